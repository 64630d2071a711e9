package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// outcomes writes a sequence of attempt outcomes: "f" failed, "s" succeeded.
func playOutcomes(u *Upstream, t *Target, now time.Time, seq string) {
	for _, c := range seq {
		u.record(t, now, c == 'f')
	}
}

func TestOutlierDetection(t *testing.T) {
	tests := []struct {
		name    string
		targets int
		pe      config.PassiveEjection
		// down marks targets the active check holds unhealthy.
		down []int
		// plays are (target, outcomes) in order.
		plays []struct {
			target int
			seq    string
		}
		wantEjected []bool
	}{
		{name: "ratio reached over min_requests ejects", targets: 2,
			pe:          config.PassiveEjection{MinRequests: 4},
			plays:       plays(0, "sfsf"),
			wantEjected: []bool{true, false}},
		{name: "below min_requests never ejects, however bad", targets: 2,
			pe:          config.PassiveEjection{MinRequests: 5},
			plays:       plays(0, "ffff"),
			wantEjected: []bool{false, false}},
		{name: "ratio not reached", targets: 2,
			pe:          config.PassiveEjection{MinRequests: 4, FailureRatio: 0.75},
			plays:       plays(0, "ssffsf"),
			wantEjected: []bool{false, false}},
		{name: "the only target is never ejected", targets: 1,
			pe:          config.PassiveEjection{MinRequests: 2, MaxEjectionPercent: 100},
			plays:       plays(0, "ffffffffff"),
			wantEjected: []bool{false}},
		{name: "the last available target is never ejected", targets: 3,
			pe:          config.PassiveEjection{MinRequests: 2, MaxEjectionPercent: 100},
			down:        []int{1},
			plays:       append(plays(0, "ff"), plays(2, "ff")...),
			wantEjected: []bool{true, false, false}},
		{name: "max_ejection_percent bounds how many go", targets: 4,
			pe:          config.PassiveEjection{MinRequests: 2},
			plays:       append(append(plays(0, "ff"), plays(1, "ff")...), plays(2, "ff")...),
			wantEjected: []bool{true, true, false, false}},
		{name: "max_ejection_percent rounds down", targets: 3,
			pe:          config.PassiveEjection{MinRequests: 2, MaxEjectionPercent: 30},
			plays:       plays(0, "ff"),
			wantEjected: []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			targets := make([]string, tt.targets)
			for i := range targets {
				targets[i] = fmt.Sprintf("http://127.0.0.1:%d", 1+i)
			}
			u := newTestUpstream(t, config.Upstream{Name: "u", Targets: targets, PassiveEjection: tt.pe})
			now := time.Unix(1000, 0)
			for _, i := range tt.down {
				u.Targets[i].healthy.Store(false)
			}
			for _, p := range tt.plays {
				playOutcomes(u, u.Targets[p.target], now, p.seq)
			}
			for i, want := range tt.wantEjected {
				if got := u.Targets[i].Ejected(now); got != want {
					t.Errorf("target %d ejected = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func plays(target int, seq string) []struct {
	target int
	seq    string
} {
	return []struct {
		target int
		seq    string
	}{{target, seq}}
}

// Counts belong to one window: failures of the previous window do not
// add up with this one's.
func TestOutcomeWindowRollsOver(t *testing.T) {
	u := newTestUpstream(t, config.Upstream{Name: "u", Targets: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"},
		PassiveEjection: config.PassiveEjection{MinRequests: 4, Window: config.Duration(10 * time.Second)}})
	tg := u.Targets[0]
	start := time.Unix(1000, 0)
	playOutcomes(u, tg, start, "fff")
	playOutcomes(u, tg, start.Add(10*time.Second), "fff")
	if tg.Ejected(start.Add(10 * time.Second)) {
		t.Fatal("failures of two windows were added up")
	}
	playOutcomes(u, tg, start.Add(10*time.Second), "f")
	if !tg.Ejected(start.Add(10 * time.Second)) {
		t.Fatal("four failures in one window did not eject")
	}
}

// A passing active health check ends an ejection at once.
func TestHealthCheckEndsEjection(t *testing.T) {
	u := newTestUpstream(t, config.Upstream{Name: "u", Targets: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"},
		PassiveEjection: config.PassiveEjection{MinRequests: 2}})
	tg := u.Targets[0]
	playOutcomes(u, tg, u.now(), "ff")
	if !tg.Ejected(u.now()) {
		t.Fatal("not ejected")
	}
	u.endEjection(tg)
	if !tg.Available(u.now()) {
		t.Fatal("still ejected after a passing check")
	}
	// The failures that ejected it are forgotten.
	playOutcomes(u, tg, u.now(), "f")
	if tg.Ejected(u.now()) {
		t.Fatal("ejected again by one failure")
	}
}

func TestUpstreamFault(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	timedOut, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	whole := newClientBody(io.NopCloser(strings.NewReader("ab")), 2)
	_, _ = io.ReadAll(whole)
	partial := newClientBody(io.NopCloser(strings.NewReader("ab")), 2)
	_, _ = partial.Read(make([]byte, 1))
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		body *clientBody
		want bool
	}{
		{"connect refused", live, dial, nil, true},
		{"upstream reset", live, fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", reset), nil, true},
		{"upstream closed early", live, io.ErrUnexpectedEOF, nil, true},
		{"client body broke off", live, clientBodyError{io.ErrUnexpectedEOF}, partial, false},
		{"client body wrapped by the transport", live, fmt.Errorf("http2: %w", clientBodyError{errors.New("request declared a Content-Length of 100 but only wrote 10 bytes")}), partial, false},
		{"client body over the limit", live, clientBodyError{&http.MaxBytesError{Limit: 1}}, partial, false},
		{"client went away", gone, context.Canceled, nil, false},
		{"route timeout with the whole request sent", timedOut, context.DeadlineExceeded, whole, true},
		{"route timeout without a body", timedOut, context.DeadlineExceeded, nil, true},
		{"route timeout while the client still sends", timedOut, context.DeadlineExceeded, partial, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := upstreamFault(tt.ctx, tt.err, tt.body); got != tt.want {
				t.Fatalf("upstreamFault = %v, want %v", got, tt.want)
			}
		})
	}
}

// Every error out of the outbound body is the client's, including a body
// that ends short of its Content-Length without an error of its own.
func TestClientBodyTagsErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     io.Reader
		declared int64
		wantErr  error // nil: a clean read to the end
	}{
		{"whole body", strings.NewReader("abcd"), 4, nil},
		{"unknown length", strings.NewReader("abcd"), -1, nil},
		{"ends short of Content-Length", strings.NewReader("ab"), 4, io.ErrUnexpectedEOF},
		{"breaks off", io.MultiReader(strings.NewReader("ab"), errReader{syscall.ECONNRESET}), 4, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newClientBody(io.NopCloser(tt.body), tt.declared)
			_, err := io.ReadAll(b)
			var cbe clientBodyError
			switch {
			case tt.wantErr == nil && (err != nil || !b.complete()):
				t.Fatalf("err = %v, complete = %v; want a clean, complete read", err, b.complete())
			case tt.wantErr != nil && (!errors.As(err, &cbe) || !errors.Is(err, tt.wantErr) || b.complete()):
				t.Fatalf("err = %v (complete %v), want a clientBodyError wrapping %v", err, b.complete(), tt.wantErr)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A request the transport refuses is the client's fault, recognised as
// such (a dial to the target would be refused here), and counts against no
// target.
func TestInvalidOutboundRequest(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
		want   string
	}{
		{"method with a space", "GET X", nil, "invalid method"},
		{"header value with a newline", "GET", http.Header{"X-Consumer-Id": {"a\nb"}}, "invalid header field value"},
		{"header name with a space", "GET", http.Header{"X Bad": {"1"}}, "invalid header field name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := upstreamFor(t, []string{"http://127.0.0.1:1"}, 0, 2)
			req, _ := http.NewRequest("GET", "http://gateway/x", nil)
			req.Method = tt.method
			for k, v := range tt.header {
				req.Header[k] = v
			}
			_, err := u.RoundTrip(req)
			var ire invalidRequestError
			if !errors.As(err, &ire) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want invalidRequestError %q", err, tt.want)
			}
			if requests, _ := u.Targets[0].outcomes.add(uint64(u.now().UnixNano()/u.outlier.window), false); requests != 1 {
				t.Fatal("the refusal was counted against the target")
			}
		})
	}
}
