package digest

import (
	"errors"
	"testing"
)

// FuzzParse: any Content-Digest either fails with one of the package's
// errors or yields supported digests of the right length, and Verify
// agrees with Parse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
		"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:, md5=:Sd/dVLAcvNLSq16eXua5uQ==:",
		"sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg==:",
		"sha-256=:AAAA:, sha-256=:BBBB:",
		`sha-256="x";a=1`,
		"",
	} {
		f.Add(s, []byte(`{"hello": "world"}`))
	}
	known := []error{ErrMissing, ErrMalformed, ErrTooLarge, ErrNoSupported, ErrMismatch}
	f.Fuzz(func(t *testing.T, field string, content []byte) {
		ds, perr := Parse([]string{field})
		_, verr := Verify([]string{field}, content)
		if perr != nil {
			if !errors.Is(verr, perr) {
				t.Fatalf("Parse: %v, Verify: %v", perr, verr)
			}
			return
		}
		for a, d := range ds {
			if _, size := newHash(a); size == 0 || len(d) != size {
				t.Fatalf("%s digest of %d bytes", a, len(d))
			}
		}
		if verr != nil {
			for _, k := range known {
				if errors.Is(verr, k) {
					return
				}
			}
			t.Fatalf("Verify: unexpected error %v", verr)
		}
	})
}
