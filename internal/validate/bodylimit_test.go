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
// known and unknown length, within and over the limit, and when the
// buffering budget is spent.
func TestBodyLimit(t *testing.T) {
	tests := []struct {
		name        string
		body        io.Reader
		length      int64 // -1: unknown
		spent       bool  // StreamBufferBudget used up by others
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.spent {
				streamBuffered.Add(StreamBufferBudget)
				defer streamBuffered.Add(-StreamBufferBudget)
			}
			called := false
			next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				called = true
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
			req.ContentLength = tc.length
			if tc.h2 {
				req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
			}
			rec := httptest.NewRecorder()
			err := pipeline.Chain(next, BodyLimit(10), BufferBody(10)).ServeHTTP(rec, req)
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
			if n := streamBuffered.Load(); n != map[bool]int64{true: StreamBufferBudget, false: 0}[tc.spent] {
				t.Fatalf("budget in use after the request: %d", n)
			}
		})
	}
}
