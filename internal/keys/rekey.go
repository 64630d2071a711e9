package keys

import (
	"context"
	"fmt"
)

// RekeyResult counts what a rekey did.
type RekeyResult struct {
	// Examined values, of consumers, keys and signing keys.
	Examined int `json:"examined"`
	// Rekeyed values were re-encrypted under the current master key.
	Rekeyed int `json:"rekeyed"`
	// Current is the master key version everything is now under.
	Current uint32 `json:"current_version"`
}

// Rekey re-encrypts every sealed value that is not under the current
// master key version. It is safe to run while gateways serve (each value
// is swapped only if unchanged) and to run again; once it reports no
// failures the old master key version can be removed.
func (s *Service) Rekey(ctx context.Context) (RekeyResult, error) {
	res := RekeyResult{Current: s.sec.Keyring.Current()}
	failed := 0
	for _, kind := range []string{"consumer", "key", "signing_key"} {
		after := ""
		for {
			page, err := s.st.ListSealed(ctx, kind, after, 500)
			if err != nil {
				return res, err
			}
			for _, v := range page {
				after = v.ID
				res.Examined++
				if ver, ok := Version(v.Data); ok && ver == res.Current {
					continue
				}
				pt, err := s.sec.Keyring.Open(v.Data, aad(kind, v.ID))
				if err != nil {
					failed++
					s.log.Error("rekey: cannot decrypt", "kind", kind, "id", v.ID, "error", err.Error())
					continue
				}
				sealed, err := s.sec.Keyring.Seal(pt, aad(kind, v.ID))
				if err != nil {
					return res, err
				}
				ok, err := s.st.ReplaceSealed(ctx, kind, v.ID, v.Data, sealed)
				if err != nil {
					return res, err
				}
				if ok {
					res.Rekeyed++
				}
				// Not swapped: the row changed meanwhile and was sealed
				// under the current version by that change.
			}
			if len(page) < 500 {
				break
			}
		}
	}
	if failed > 0 {
		return res, fmt.Errorf("%d values could not be decrypted with the configured master keys", failed)
	}
	return res, nil
}
