package requestid

import (
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
