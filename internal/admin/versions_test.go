package admin_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
)

// An admin API whose instance lacks the master key version a consumer is
// sealed under answers 503 key-version-unavailable with Retry-After (not
// 500): another instance can serve the request.
func TestMissingMasterKeyVersionIs503(t *testing.T) {
	e := newEnv(t)
	pepper := keystest.NewSecrets(t).Pepper
	onlyV2, err := keys.NewSecrets([]byte(pepper), "v2:"+strings.Repeat("A", 43)+"=")
	if err != nil {
		t.Fatal(err)
	}
	other := keystest.Service(t, e.svc.Store(), &keystest.Secrets{Secrets: onlyV2}, keys.Options{})
	if _, err := other.CreateConsumer(bg, keys.ConsumerSpec{Name: "sealed-v2", Contact: "c@example.com"}); err != nil {
		t.Fatal(err)
	}
	r := e.do("admin", "GET", "/v1/consumers", nil)
	if r.status != 503 || r.header.Get("Retry-After") != "5" ||
		!strings.Contains(string(r.body), `"type":"https://portcullis.dev/problems/key-version-unavailable"`) {
		t.Fatalf("consumers list: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
}
