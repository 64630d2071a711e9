package config

import "testing"

// A syntax error names the line of the mistake, not the line where the
// list or mapping holding it began (yaml.v3 reports the latter).
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"key indented out of its list item", "listeners:\n  - name: public\n    tls:\n  cert_file: a.crt\n",
			"yaml: line 4: did not find expected '-' indicator"},
		{"key after a list at the wrong depth", "a: 1\nb:\n  - x\n  y: 1\n",
			"yaml: line 4: did not find expected '-' indicator"},
		{"unclosed flow list", "a: 1\nb: 2\nc: 3\nd: [1, 2\n",
			"yaml: line 4: did not find expected ',' or ']'"},
		{"mapping inside a scalar", "a: 1\nb: 2\nc: 3\n  d: 1\n",
			"yaml: line 4: mapping values are not allowed in this context"},
		{"character that starts no token", "a: 1\nb: 2\nc: 3\nd: @x\n",
			"yaml: line 4: found character that cannot start any token"},
		{"multi-line quoted scalar before the mistake", "a: \"one\n  two\"\nb: [x\n",
			"yaml: line 3: did not find expected ',' or ']'"},
		{"unterminated quote names where it opened", "a: 1\nb: \"open\nc: 2\n",
			"yaml: line 2: found unexpected end of stream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), func(string) (string, bool) { return "", false })
			errs, ok := err.(Errors)
			if !ok || len(errs) != 1 || errs[0].Error() != tc.want {
				t.Fatalf("Parse error = %v, want %q", err, tc.want)
			}
		})
	}
}
