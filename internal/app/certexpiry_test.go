package app

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pki"
)

// The admin listener's certificate is in the expiry metric next to the
// public listeners' (an expiring admin certificate alerts as well).
func TestAdminCertificateIsInTheExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("app test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaves := map[string]time.Time{
		"public": time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second),
		"admin":  time.Now().Add(60 * 24 * time.Hour).Truncate(time.Second),
	}
	files := map[string][2]string{}
	for name, notAfter := range leaves {
		leaf, err := ca.Issue(pki.LeafOptions{CommonName: name, Hosts: []string{"127.0.0.1"}, NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		cert, key, err := leaf.WriteFiles(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = [2]string{cert, key}
	}
	doc := `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "` + files["public"][0] + `", key_file: "` + files["public"][1] + `"}
ops:
  address: "127.0.0.1:0"
upstreams:
  - name: api
    targets: ["http://127.0.0.1:9"]
routes:
  - name: r
    prefix: /
    upstream: api
    auth: none
keys:
  store: {path: "` + filepath.Join(dir, "keys.db") + `"}
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "` + files["admin"][0] + `", key_file: "` + files["admin"][1] + `"}
logging:
  access: {enabled: false}
`
	f := filepath.Join(dir, "portcullis.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	env := map[string]string{config.DefaultPepperEnv: secret(48), config.DefaultMasterKeyEnv: "v1:" + secret(32)}
	p, err := Build(cfg, Options{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	families, err := p.Server.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, mf := range families {
		if mf.GetName() != "portcullis_tls_certificate_expiry_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = int64(m.GetGauge().GetValue())
		}
	}
	for _, name := range []string{"public", "admin"} {
		t.Run(name, func(t *testing.T) {
			if got[name] != leaves[name].Unix() {
				t.Fatalf("expiry of %s = %d, want %d (metric: %v)", name, got[name], leaves[name].Unix(), got)
			}
		})
	}
}
