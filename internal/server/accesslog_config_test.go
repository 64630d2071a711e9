package server

import (
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
)

// A header an api_key authenticator reads keys from is redacted even when
// the operator asks for it to be logged.
func TestAccessLogRedactsConfiguredKeyHeaders(t *testing.T) {
	cfg := &config.Config{
		Logging: config.Logging{Access: config.AccessLog{Headers: []string{"X-Partner-Key"}, RedactHeaders: []string{"X-Other"}}},
		Authenticators: []config.Authenticator{
			{Name: "partners", APIKey: &config.APIKeyAuth{Header: "X-Partner-Key"}},
		},
	}
	got := accessLogConfig(cfg)
	r := observe.NewRedactor(got.RedactHeaders)
	for _, h := range []string{"X-Partner-Key", "x-partner-key", "X-Other", "X-Api-Key"} {
		if v := r.HeaderValue(h, "pcl_live_secret"); v != observe.Redacted {
			t.Errorf("%s logged as %q", h, v)
		}
	}
	if len(cfg.Logging.Access.RedactHeaders) != 1 {
		t.Error("accessLogConfig changed the caller's config")
	}
	// On reload the previous configuration's key headers stay redacted:
	// requests still in flight on the old runtime present them.
	next := &config.Config{Logging: cfg.Logging}
	if v := observe.NewRedactor(accessLogConfig(next, cfg).RedactHeaders).HeaderValue("X-Partner-Key", "pcl_live_secret"); v != observe.Redacted {
		t.Errorf("the previous configuration's key header logged as %q", v)
	}
}
