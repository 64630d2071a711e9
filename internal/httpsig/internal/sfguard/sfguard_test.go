package sfguard

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDictionary(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		max     int
		want    error
		members int
	}{
		{"one member", []string{`sig1=("@method");created=1`}, 100, nil, 1},
		{"two lines", []string{`a=1`, `b=:AAAA:`}, 100, nil, 2},
		{"empty", nil, 100, nil, 0},
		{"comma and semicolon inside strings", []string{`a=("x,y;z" "\"q,;\"");k="v;,w"`, `b`}, 100, nil, 2},
		{"repeated key on one line", []string{`a=1, a=2`}, 100, ErrDuplicate, 0},
		{"repeated key across lines", []string{`a=1`, `a=2`}, 100, ErrDuplicate, 0},
		{"repeated inner list parameter", []string{`a=("x");created=1;created=2`}, 100, ErrDuplicate, 0},
		{"repeated item parameter", []string{`a=("x";sf;sf)`}, 100, ErrDuplicate, 0},
		{"repeated member parameter", []string{`a;x;x`}, 100, ErrDuplicate, 0},
		{"malformed", []string{`a=(`}, 100, ErrMalformed, 0},
		{"trailing comma", []string{`a=1,`}, 100, ErrMalformed, 0},
		{"too large", []string{strings.Repeat("a", 60), strings.Repeat("b", 39)}, 100, ErrTooLarge, 0},
		{"exactly at the bound", []string{strings.Repeat("a", 60), strings.Repeat("b", 38)}, 100, nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDictionary(tc.lines, tc.max)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && len(d.Names()) != tc.members {
				t.Fatalf("%d members, want %d", len(d.Names()), tc.members)
			}
		})
	}
}
