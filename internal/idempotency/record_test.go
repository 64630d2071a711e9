package idempotency

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestStoredRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    stored
	}{
		{"empty body", stored{status: 204, header: http.Header{}, body: []byte{}}},
		{"headers and body", stored{status: 201, header: http.Header{"Content-Type": {"application/json"}, "Location": {"/p/1", "/p/2"}},
			body: []byte(`{"id":"pay_1"}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeResponse(encodeResponse(tc.s))
			if err != nil || !reflect.DeepEqual(got, tc.s) {
				t.Fatalf("round trip = %+v, %v; want %+v", got, err, tc.s)
			}
		})
	}
	m := meta{fp: Fingerprint{1, 2, 3}, leaseUntil: time.UnixMilli(1_800_000_000_123), owner: "owner-token"}
	if got, err := decodeMeta(encodeMeta(m)); err != nil || got != m {
		t.Fatalf("meta round trip = %+v, %v", got, err)
	}
}

// A value from the store that does not decode is refused, never replayed
// in part.
func TestStoredCorrupt(t *testing.T) {
	good := encodeResponse(stored{status: 200, header: http.Header{"A": {"b"}}, body: []byte("x")})
	for name, b := range map[string][]byte{
		"empty":         nil,
		"wrong tag":     append([]byte{'D'}, good[1:]...),
		"wrong version": append([]byte{'R', 9}, good[2:]...),
		"truncated":     good[:9],
		"status 0":      {'R', 1, 0, 0, 0, 0},
	} {
		if _, err := decodeResponse(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decodeMeta([]byte{'M', 1, 0}); err == nil {
		t.Error("short meta decoded")
	}
}

// FuzzDecodeStored: whatever the store holds, decoding never panics, and
// what decodes re-encodes to the same bytes.
func FuzzDecodeStored(f *testing.F) {
	f.Add(encodeResponse(stored{status: 201, header: http.Header{"Content-Type": {"application/json"}}, body: []byte("{}")}))
	f.Add(encodeMeta(meta{owner: "o"}))
	f.Add(encodeDoubt(ReasonTimeout))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeResponse(b); err == nil {
			if again, err := decodeResponse(encodeResponse(s)); err != nil || again.status != s.status || string(again.body) != string(s.body) {
				t.Fatalf("re-encoding changed %+v", s)
			}
		}
		_, _ = decodeMeta(b)
		_ = decodeDoubt(b)
	})
}
