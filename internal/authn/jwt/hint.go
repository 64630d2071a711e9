package jwt

import (
	"encoding/base64"
	"encoding/json"
)

// maxHintLen bounds the subject copied into a credential hint.
const maxHintLen = 64

// unverifiedSub reads "sub" from a base64url payload segment, keeping only
// printable ASCII and at most 64 bytes: it is attacker-controlled and goes
// to the log and to brute-force counters.
func unverifiedSub(seg string) string {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var c struct {
		Sub any `json:"sub"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	s, _ := c.Sub.(string)
	out := make([]byte, 0, min(len(s), maxHintLen))
	for i := 0; i < len(s) && len(out) < maxHintLen; i++ {
		if s[i] > 0x20 && s[i] < 0x7f {
			out = append(out, s[i])
		}
	}
	return string(out)
}
