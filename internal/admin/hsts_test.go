package admin_test

import "testing"

// Every admin API response, success or problem, asks browsers to use HTTPS
// for the admin host and its subdomains for a year.
func TestAdminHSTS(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, role, path string
		status           int
	}{
		{"authenticated", "admin", "/v1/whoami", 200},
		{"no credential", "", "/v1/whoami", 401},
		{"unknown path", "admin", "/v1/nothing", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.role, "GET", tt.path, nil)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			if got := resp.header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
				t.Fatalf("Strict-Transport-Security = %q", got)
			}
		})
	}
}
