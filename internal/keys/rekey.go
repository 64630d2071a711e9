package keys

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// RekeyResult counts what a rekey did.
type RekeyResult struct {
	// Examined values, of consumers, keys and signing keys.
	Examined int `json:"examined"`
	// Rekeyed values were re-encrypted under the target version.
	Rekeyed int `json:"rekeyed"`
	// Current is the master key version everything is now under.
	Current uint32 `json:"current_version"`
	// Forced is set when live instances lacking the version were
	// overridden (--force).
	Forced bool `json:"forced,omitempty"`
}

// InstancesLackVersionError refuses a rekey: live instances do not hold
// the target master key version and could not read what it writes.
type InstancesLackVersionError struct {
	Version uint32
	Lacking []LiveInstance
}

// Error implements error.
func (e *InstancesLackVersionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d live instance(s) do not hold master key v%d and could not read values re-encrypted with it:", len(e.Lacking), e.Version)
	for _, in := range e.Lacking {
		fmt.Fprintf(&b, "\n  %s on %s holds %s (last heartbeat %s)", in.ID, in.Host, versionList(in.MasterKeyVersions), in.HeartbeatAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	fmt.Fprintf(&b, "\nadd v%d to their keys.master_key and restart them, then run the rekey again (a dead instance drops out of this list %s after its last heartbeat; --force overrides this check)",
		e.Version, InstanceTTLFactor*DefaultHeartbeat)
	return b.String()
}

func versionList(vs []uint32) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("v%d", v)
	}
	if len(parts) == 0 {
		return "no version"
	}
	return strings.Join(parts, ", ")
}

// CheckRekey refuses (InstancesLackVersionError) while a live instance
// does not hold the newest configured master key version.
func (s *Service) CheckRekey(ctx context.Context) error {
	target := s.sec.Keyring.Current()
	live, err := s.LiveInstances(ctx)
	if err != nil {
		return fmt.Errorf("reading the live instances: %w", err)
	}
	var lacking []LiveInstance
	for _, in := range live {
		if !slices.Contains(in.MasterKeyVersions, target) {
			lacking = append(lacking, in)
		}
	}
	if len(lacking) > 0 {
		return &InstancesLackVersionError{Version: target, Lacking: lacking}
	}
	return nil
}

// Rekey re-encrypts every sealed value that is not under the newest
// configured master key version. Unless force, it first refuses while a
// live instance (in the store's registry) lacks that version: those
// instances could not read the values it rewrites. It is safe to run
// while gateways serve (each value is swapped only if unchanged) and to
// run again; once it reports no failures the old master key version can
// be removed from every instance.
func (s *Service) Rekey(ctx context.Context, force bool) (RekeyResult, error) {
	target := s.sec.Keyring.Current()
	res := RekeyResult{Current: target}
	if err := s.CheckRekey(ctx); err != nil {
		if _, lack := err.(*InstancesLackVersionError); !lack || !force {
			return res, err
		}
		res.Forced = true
		s.log.Warn("rekey forced while live instances lack the master key version; they will fail to read rewritten values until restarted with it", "error", err.Error())
	}
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
				if ver, ok := Version(v.Data); ok && ver == target {
					continue
				}
				pt, err := s.sec.Keyring.Open(v.Data, aad(kind, v.ID))
				if err != nil {
					failed++
					s.log.Error("rekey: cannot decrypt", "kind", kind, "id", v.ID, "error", err.Error())
					continue
				}
				sealed, err := s.sec.Keyring.SealVersion(target, pt, aad(kind, v.ID))
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
				// by that change.
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
