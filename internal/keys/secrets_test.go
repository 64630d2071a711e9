package keys_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
)

func TestLoadSecrets(t *testing.T) {
	pepper := strings.Repeat("p", 40)
	master := "v1:" + key32()
	dir := t.TempDir()
	pepperFile := filepath.Join(dir, "pepper")
	if err := os.WriteFile(pepperFile, []byte(pepper+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) config.LookupEnv {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name    string
		cfg     config.Keys
		env     map[string]string
		wantErr []string // config paths reported
	}{
		{"env", config.Keys{Pepper: config.SecretRef{Env: "P"}, MasterKey: config.SecretRef{Env: "M"}},
			map[string]string{"P": pepper, "M": master}, nil},
		{"file", config.Keys{Pepper: config.SecretRef{File: pepperFile}, MasterKey: config.SecretRef{Env: "M"}},
			map[string]string{"M": master}, nil},
		{"both missing", config.Keys{Pepper: config.SecretRef{Env: "P"}, MasterKey: config.SecretRef{Env: "M"}},
			nil, []string{"keys.pepper.env", "keys.master_key.env"}},
		{"short pepper, bad master", config.Keys{Pepper: config.SecretRef{Env: "P"}, MasterKey: config.SecretRef{Env: "M"}},
			map[string]string{"P": "short-secret-value", "M": "v1:not-base64-secret"}, []string{"keys.pepper", "keys.master_key"}},
		{"missing file", config.Keys{Pepper: config.SecretRef{File: filepath.Join(dir, "nope")}, MasterKey: config.SecretRef{Env: "M"}},
			map[string]string{"M": master}, []string{"keys.pepper.file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := keys.LoadSecrets(tc.cfg, env(tc.env))
			if tc.wantErr == nil {
				if err != nil || s.Peppers == nil || s.Keyring == nil {
					t.Fatalf("LoadSecrets = %v, %v", s, err)
				}
				return
			}
			errs, ok := err.(config.Errors)
			if !ok || len(errs) != len(tc.wantErr) {
				t.Fatalf("err = %v, want problems at %v", err, tc.wantErr)
			}
			for i, p := range tc.wantErr {
				if errs[i].Path != p {
					t.Errorf("problem %d at %q, want %q", i, errs[i].Path, p)
				}
			}
			for _, v := range tc.env {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
		})
	}
}
