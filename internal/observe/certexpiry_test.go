package observe

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The metric is read from the certificate in use at scrape time: a renewed
// certificate replaces the old date at once, for every watched listener
// (public ones and admin).
func TestCertExpiryFollowsTheCertificateInUse(t *testing.T) {
	first := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	renewed := time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)
	var public atomic.Int64
	public.Store(first.Unix())
	c := newCertExpiry()
	c.Watch("public", func() time.Time { return time.Unix(public.Load(), 0) })
	c.Watch("admin", func() time.Time { return first })

	const head = "# HELP portcullis_tls_certificate_expiry_timestamp_seconds NotAfter of the certificate each TLS listener (public listeners and admin) serves now.\n" +
		"# TYPE portcullis_tls_certificate_expiry_timestamp_seconds gauge\n"
	for _, tc := range []struct {
		name string
		set  time.Time
		want string
	}{
		{"initial", first, `portcullis_tls_certificate_expiry_timestamp_seconds{listener="admin"} 1.7987616e+09
portcullis_tls_certificate_expiry_timestamp_seconds{listener="public"} 1.7987616e+09
`},
		{"after hot reload", renewed, `portcullis_tls_certificate_expiry_timestamp_seconds{listener="admin"} 1.7987616e+09
portcullis_tls_certificate_expiry_timestamp_seconds{listener="public"} 1.8065376e+09
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			public.Store(tc.set.Unix())
			if err := testutil.CollectAndCompare(c, strings.NewReader(head+tc.want)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
