package problem

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/reqinfo"
)

type coded struct{}

func (coded) Error() string   { return "db password=hunter2 refused" }
func (coded) StatusCode() int { return 429 }

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
		header map[string]string
	}{
		{"problem", NotFound(), 404,
			`{"type":"https://portcullis.dev/problems/not-found","title":"Not Found","status":404,"detail":"No route matches this request.","request_id":"rid1"}`, nil},
		{"wrapped problem keeps headers", fmt.Errorf("ctx: %w", MethodNotAllowed("GET, HEAD")), 405,
			`{"type":"https://portcullis.dev/problems/method-not-allowed","title":"Method Not Allowed","status":405,"detail":"The route does not accept this method.","request_id":"rid1"}`,
			map[string]string{"Allow": "GET, HEAD"}},
		{"status coder hides its message", coded{}, 429,
			`{"type":"about:blank","title":"Too Many Requests","status":429,"request_id":"rid1"}`, nil},
		{"plain error is a 500 that hides its message", errors.New("secret internals"), 500,
			`{"type":"https://portcullis.dev/problems/internal","title":"Internal Server Error","status":500,"detail":"The gateway could not complete the request.","request_id":"rid1"}`, nil},
		{"cause never reaches the client", BadGateway(errors.New("dial 10.1.2.3:5432")), 502,
			`{"type":"https://portcullis.dev/problems/bad-gateway","title":"Bad Gateway","status":502,"detail":"The upstream service could not be reached or sent an invalid response.","request_id":"rid1"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			info := &reqinfo.Info{ID: "rid1"}
			r = r.WithContext(reqinfo.With(r.Context(), info))
			w := httptest.NewRecorder()
			Write(w, r, tt.err)
			if w.Code != tt.status || w.Body.String() != tt.body+"\n" {
				t.Fatalf("got %d %s\nwant %d %s", w.Code, w.Body.String(), tt.status, tt.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			for k, v := range tt.header {
				if w.Header().Get(k) != v {
					t.Errorf("%s = %q, want %q", k, w.Header().Get(k), v)
				}
			}
			if info.Err != tt.err {
				t.Error("cause not recorded for the log")
			}
		})
	}
}

func TestWriteHeadHasNoBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodHead, "/", nil)
	w := httptest.NewRecorder()
	Write(w, r, NotFound())
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", w.Code, w.Body.Len())
	}
}

// Every 503 carries Retry-After: the one its maker chose (whole seconds,
// rounded up, at least 1), or the default when a 503 was built without it.
func TestEvery503HasRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unavailable, 5s", Unavailable("auth-unavailable", "d", 5*time.Second, nil), "5"},
		{"unavailable, rounded up", Unavailable("x", "d", 1500*time.Millisecond, nil), "2"},
		{"unavailable, at least 1", Unavailable("x", "d", 0, nil), "1"},
		{"a 503 built by hand", New(http.StatusServiceUnavailable, "x", "Service Unavailable", ""), "5"},
		{"a 502 has none", BadGateway(nil), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req = req.WithContext(reqinfo.With(req.Context(), &reqinfo.Info{}))
			Write(rec, req, tc.err)
			if got := rec.Header().Get("Retry-After"); got != tc.want {
				t.Fatalf("Retry-After %q, want %q", got, tc.want)
			}
		})
	}
}
