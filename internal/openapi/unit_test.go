package openapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

func TestCheckIBAN(t *testing.T) {
	tests := []struct {
		iban string
		ok   bool
	}{
		{"DE89370400440532013000", true},
		{"GB82WEST12345698765432", true},
		{"FR1420041010050500013M02606", true},
		{"NO9386011117947", true},                     // shortest in use (15)
		{"LC55HEMM000100010012001200023015", true},    // 32 characters, letters in the BBAN
		{"DE89370400440532013001", false},             // check digits wrong
		{"DE88370400440532013000", false},             // check digits wrong
		{"de89370400440532013000", false},             // lower case
		{"DE89 3704 0044 0532 0130 00", false},        // print format
		{"D189370400440532013000", false},             // country not letters
		{"DEX9370400440532013000", false},             // check digits not digits
		{"DE8937040044", false},                       // too short
		{"DE89370400440532013000000000000000", false}, // too long (34 is the maximum; this is 34 with a bad checksum)
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.iban, func(t *testing.T) {
			if err := CheckIBAN(tc.iban); (err == nil) != tc.ok {
				t.Fatalf("CheckIBAN = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// ibanReference is ISO 7064 MOD 97-10 on a big integer, the textbook way.
func ibanReference(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	if !regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]+$`).MatchString(s) {
		return false
	}
	var digits strings.Builder
	for _, c := range s[4:] + s[:4] {
		if c >= 'A' {
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	return new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func FuzzCheckIBAN(f *testing.F) {
	for _, s := range []string{"DE89370400440532013000", "GB82WEST12345698765432", "XX00", "DE89370400440532013001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CheckIBAN(s) == nil, ibanReference(s); got != want {
			t.Fatalf("CheckIBAN(%q) ok=%v, reference %v", s, got, want)
		}
	})
}

func TestCheckUUID(t *testing.T) {
	for s, ok := range map[string]bool{
		"0b9d6a9e-3f1c-4d2a-9c4e-2f0a7b6c5d4e": true,
		"0B9D6A9E-3F1C-4D2A-9C4E-2F0A7B6C5D4E": true,
		"00000000-0000-0000-0000-000000000000": true,
		"ffffffff-ffff-ffff-ffff-ffffffffffff": true,
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398f": true,  // v7
		"0b9d6a9e-3f1c-0d2a-9c4e-2f0a7b6c5d4e": false, // version 0
		"0b9d6a9e-3f1c-4d2a-7c4e-2f0a7b6c5d4e": false, // variant
		"0b9d6a9e3f1c4d2a9c4e2f0a7b6c5d4e":     false,
		"0b9d6a9e-3f1c-4d2a-9c4e-2f0a7b6c5d4g": false,
	} {
		if err := checkUUID(s); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", s, err, ok)
		}
	}
}

// brokenSchema is a validator that fails (a document it cannot apply).
type brokenSchema struct{}

func (brokenSchema) check(any) ([]problem.Violation, error) {
	return nil, errInternal{errors.New("schema cannot be applied")}
}

// A validator failure is never a pass: 500, logged with the request id,
// counted, in report mode too; the next handler is not called.
func TestValidatorFailureFailsClosed(t *testing.T) {
	doc := loadTestDoc(t, "3.0.3")
	op, _ := doc.find("POST", "/v1/payments")
	for m := range op.body.schemas {
		op.body.schemas[m] = brokenSchema{}
	}
	for _, mode := range []string{"enforce", "report"} {
		t.Run(mode, func(t *testing.T) {
			var log bytes.Buffer
			o := config.WithDefaults(config.OpenAPI{Spec: "x", Mode: mode})
			s := New("payments", &o, doc, Deps{Log: slog.New(slog.NewTextHandler(&log, nil))})
			called := false
			h := s.Handle(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil }))
			body := `{"amount":"10.00","currency":"EUR","creditor_iban":"DE89370400440532013000"}`
			r := httptest.NewRequest("POST", "/v1/payments", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			info := &reqinfo.Info{ID: "req-1", Path: "/v1/payments", Body: []byte(body), BodyRead: true}
			err := h.ServeHTTP(httptest.NewRecorder(), r.WithContext(reqinfo.With(r.Context(), info)))
			var pe *problem.Error
			if called || !errors.As(err, &pe) || pe.Status != 500 || pe.Type != "internal" {
				t.Fatalf("called=%v err=%v", called, err)
			}
			if !strings.Contains(log.String(), "openapi validator failed") || !strings.Contains(log.String(), "request_id=req-1") {
				t.Fatalf("log: %s", log.String())
			}
		})
	}
}

// Routes and upstreams naming one file share one compiled document.
func TestDocumentsAreShared(t *testing.T) {
	path := writeDoc(t, "3.0.3")
	o := &config.OpenAPI{Spec: path, Mode: "enforce", UnknownOperations: "refuse", Responses: config.OpenAPIResponses{Mode: "off"}}
	cfg := &config.Config{
		Upstreams: []config.Upstream{{Name: "up", OpenAPI: o}},
		Routes:    []config.Route{{Name: "a", Upstream: "up"}, {Name: "b", Upstream: "up", OpenAPI: o}, {Name: "c", Upstream: "up", OpenAPI: &config.OpenAPI{Mode: "off"}}},
	}
	specs, err := LoadAll(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := specs.Stage(cfg.Routes[0], Deps{}).(*Stage), specs.Stage(cfg.Routes[1], Deps{}).(*Stage)
	if len(specs.docs) != 1 || a.doc != b.doc {
		t.Fatalf("%d documents", len(specs.docs))
	}
	if s := specs.Stage(cfg.Routes[2], Deps{}); s != nil {
		t.Fatalf("mode off built %v", s)
	}
}

// testSpec is the demo's contract, in either version.
func writeDoc(t testing.TB, version string) string {
	t.Helper()
	b, err := os.ReadFile("../demo/openapi/payments.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "payments.yaml")
	doc := strings.Replace(string(b), "openapi: 3.1.0", "openapi: "+version, 1)
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadTestDoc(t testing.TB, version string) *Document {
	t.Helper()
	d, err := Load(context.Background(), writeDoc(t, version))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// reasonForms are the only words a reply may say about a value.
var reasonForms = regexp.MustCompile(`^(at /[^:]*: )?(` + strings.Join(func() []string {
	var out []string
	for _, r := range keywordReasons {
		out = append(out, regexp.QuoteMeta(r))
	}
	return out
}(), "|") + `|must be of type [a-z ]+|has the wrong type|is not a valid [a-z0-9-]+|is not in the expected format|is not valid( JSON)?|is malformed|must appear once|must not be empty|the query string is malformed|the operation takes no request body|a request body is required|is not a media type the operation accepts)$`)

// Whatever a client sends, the check answers with a verdict in the
// gateway's words (never a validator failure, never a panic), and no
// reason quotes the request.
func FuzzCheckRequest(f *testing.F) {
	docs := map[bool]*Document{false: loadTestDoc(f, "3.0.3"), true: loadTestDoc(f, "3.1.0")}
	f.Add(false, `{"amount":"10.00","currency":"EUR","creditor_iban":"DE89370400440532013000"}`, "a=1", "key-1", "application/json")
	f.Add(true, `{"amount":10,"id":"x","extra":[1,{"a":null}]}`, "a=%zz;b", "", "application/json; charset=utf-8")
	f.Add(true, `[]`, "", "k\x00", "text/plain")
	f.Fuzz(func(t *testing.T, v31 bool, body, query, key, contentType string) {
		doc := docs[v31]
		op, params := doc.find("POST", "/v1/payments")
		r := httptest.NewRequest("POST", "/v1/payments", strings.NewReader(body))
		r.URL.RawQuery = url.PathEscape(query)
		r.Header["Idempotency-Key"] = []string{key}
		r.Header["Content-Type"] = []string{contentType}
		info := &reqinfo.Info{Path: "/v1/payments", Body: []byte(body), BodyRead: true}
		v, err := checkRequest(context.Background(), r, info, op, params)
		if err != nil {
			t.Fatalf("validator failed: %v", err)
		}
		for _, f := range v.findings {
			if !reasonForms.MatchString(f.v.Reason) {
				t.Fatalf("reason %q", f.v.Reason)
			}
		}
	})
}
