package requestid

import (
	"net/http"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	good := []string{"a", "abc-DEF_1.2", strings.Repeat("x", 64)}
	bad := []string{"", strings.Repeat("x", 65), "a b", "a\"b", "a\nb", "ä", "a/b", "<script>"}
	for _, s := range good {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
	}
	for _, s := range bad {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
	if id := New(); len(id) != 16 || !Valid(id) || id == New() {
		t.Errorf("New() = %q", id)
	}
}

func TestFromRequestKeepsOnlyATrustedProxysID(t *testing.T) {
	tests := []struct {
		name    string
		sent    []string
		trusted bool
		kept    bool
	}{
		{"client's valid id", []string{"abc-1"}, false, false},
		{"trusted proxy's valid id", []string{"abc-1"}, true, true},
		{"trusted proxy's invalid id", []string{"a b"}, true, false},
		{"trusted proxy's two ids", []string{"a", "b"}, true, false},
		{"none", nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{Header: tt.sent}}
			got := FromRequest(r, tt.trusted)
			if kept := len(tt.sent) > 0 && got == tt.sent[0]; kept != tt.kept || !Valid(got) {
				t.Errorf("FromRequest = %q (sent %q, trusted %v)", got, tt.sent, tt.trusted)
			}
		})
	}
}
