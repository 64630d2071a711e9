package validate

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

type brokenReader struct{ sent bool }

func (b *brokenReader) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "abc"), nil
	}
	return 0, io.ErrUnexpectedEOF
}

// What the next handler sees, and what the client is told, for bodies of
// known and unknown length, within and over the limit, needed by a later
// stage or not, and when the memory budget is spent. The memory a read
// body holds stays counted until the next handler (the upstream exchange)
// has returned.
func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name        string
		body        io.Reader
		length      int64 // -1: unknown
		needed      bool  // a later stage needs the body
		spent       bool  // the budget is used up by others
		wantType    string
		wantNext    bool
		wantLength  int64
		wantBody    string
		wantReadErr bool
		h2          bool
		wantClose   bool // Connection: close on the response
	}{
		{name: "declared within", body: strings.NewReader("0123456789"), length: 10, wantNext: true, wantLength: 10, wantBody: "0123456789"},
		{name: "declared over", body: strings.NewReader("0123456789ab"), length: 12, wantType: "payload-too-large", wantClose: true},
		{name: "declared over, HTTP/2", body: strings.NewReader("0123456789ab"), length: 12, h2: true, wantType: "payload-too-large"},
		{name: "unknown within", body: strings.NewReader("0123456789"), length: -1, wantNext: true, wantLength: 10, wantBody: "0123456789"},
		{name: "unknown over", body: strings.NewReader("0123456789ab"), length: -1, wantType: "payload-too-large", wantClose: true},
		{name: "unknown over, HTTP/2", body: strings.NewReader("0123456789ab"), length: -1, h2: true, wantType: "payload-too-large"},
		{name: "unknown empty", body: strings.NewReader(""), length: -1, wantNext: true, wantLength: 0, wantBody: ""},
		{name: "unknown broken", body: &brokenReader{}, length: -1, wantType: "unreadable-body"},
		{name: "budget spent: streams capped", body: strings.NewReader("0123456789ab"), length: -1, spent: true,
			wantNext: true, wantLength: -1, wantReadErr: true},
		{name: "needed, declared", body: strings.NewReader("0123456789"), length: 10, needed: true, wantNext: true, wantLength: 10, wantBody: "0123456789"},
		{name: "needed, budget spent: refused", body: strings.NewReader("0123456789"), length: 10, needed: true, spent: true,
			wantType: "body-budget-exhausted"},
		{name: "needed, shorter than declared", body: strings.NewReader("01234"), length: 10, needed: true, wantType: "unreadable-body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			budget := NewBudget(1 << 20)
			if tc.spent {
				budget = NewBudget(5)
			}
			called := false
			next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
				read := reqinfo.From(r.Context()).BodyRead
				if want := r.ContentLength > 0 && read; budget.InUse() != map[bool]int64{true: r.ContentLength}[want] {
					t.Errorf("budget in use during the exchange: %d", budget.InUse())
				}
				if read && string(reqinfo.From(r.Context()).Body) != tc.wantBody {
					t.Errorf("reqinfo body = %q", reqinfo.From(r.Context()).Body)
				}
				if r.ContentLength != tc.wantLength {
					t.Errorf("ContentLength = %d, want %d", r.ContentLength, tc.wantLength)
				}
				b, err := io.ReadAll(r.Body)
				var mbe *http.MaxBytesError
				if tc.wantReadErr != errors.As(err, &mbe) {
					t.Errorf("reading the body: %v", err)
				}
				if !tc.wantReadErr && string(b) != tc.wantBody {
					t.Errorf("body = %q, want %q", b, tc.wantBody)
				}
				return nil
			})
			req := httptest.NewRequest("POST", "/", tc.body)
			req = req.WithContext(reqinfo.With(req.Context(), &reqinfo.Info{}))
			req.ContentLength = tc.length
			if tc.h2 {
				req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
			}
			rec := httptest.NewRecorder()
			h, err := pipeline.Compose(next, []pipeline.Stage{BodyLimit(10), ReadBody(10, budget, func(*http.Request) bool { return tc.needed })})
			if err != nil {
				t.Fatal(err)
			}
			err = h.ServeHTTP(rec, req)
			if got := rec.Header().Get("Connection") == "close"; got != tc.wantClose {
				t.Errorf("Connection: close = %v, want %v", got, tc.wantClose)
			}
			if called != tc.wantNext {
				t.Fatalf("next called = %v, want %v", called, tc.wantNext)
			}
			var pe *problem.Error
			switch {
			case tc.wantType == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantType != "" && (!errors.As(err, &pe) || pe.Type != tc.wantType):
				t.Fatalf("err = %v, want problem %s", err, tc.wantType)
			}
			if n := budget.InUse(); n != 0 {
				t.Fatalf("budget in use after the request: %d", n)
			}
		})
	}
}
