package admin

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A client pointed at something that is not the admin API (the gateway's
// public port, which forwards to an upstream) never sends it the token,
// whatever that something answers.
func TestClientNeverSendsTheTokenElsewhere(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var mu sync.Mutex
			var auth []string
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				auth = append(auth, r.Header.Get("Authorization"))
				mu.Unlock()
				w.WriteHeader(status)
			}))
			defer srv.Close()
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(ClientOptions{URL: srv.URL, Token: "pcl_admin_secret", CAFile: caFile})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Do(context.Background(), "GET", "/v1/admin-tokens", nil, nil)
			var na *NotAdminError
			if !errors.As(err, &na) || na.Status != status {
				t.Fatalf("err = %v, want NotAdminError %d", err, status)
			}
			if len(auth) != 1 || auth[0] != "" {
				t.Fatalf("Authorization headers received: %q, want one request without", auth)
			}
		})
	}
}
