package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// wafBenchConfig has a route with the WAF (PL1, block) beside one
// without, on the same runtime.
const wafBenchConfig = benchConfig + `  - name: waf
    path: /api/waf
    upstream: up
    auth: none
    waf: {}
`

// wafBenchItems is a 1 KiB JSON order of many short fields (CRS inspects
// every field: the cost grows with their number).
var wafBenchItems = func() []byte {
	var b strings.Builder
	b.WriteString(`{"amount":"125.50","currency":"EUR","creditor_iban":"DE89370400440532013000","remittance":"Invoice 2026-1138","items":[`)
	for i := 0; b.Len() < 1000; i++ {
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","qty":%d,"price":"%d.99"},`, i, i%5+1, i+3)
	}
	return []byte(strings.TrimSuffix(b.String(), ",") + `]}`)
}()

// wafBenchBody is a 1 KiB JSON payment with a long remittance text.
var wafBenchBody = func() []byte {
	var b strings.Builder
	b.WriteString(`{"amount":"125.50","currency":"EUR","creditor_iban":"DE89370400440532013000","creditor_name":"ACME GmbH","remittance":"`)
	for b.Len() < 1024-3 {
		b.WriteString("invoice 2026-11 ")
	}
	s := b.String()[:1024-2] + `"}`
	return []byte(s)
}()

// BenchmarkWAF is the WAF's cost per request through the whole chain
// (routing, stages, proxy to an in-memory upstream, metrics): a GET and a
// 1 KiB JSON POST, each on a route without the WAF (on a runtime with no
// WAF at all, and beside a WAF route: the zero a route without it pays)
// and on a route with it at paranoia level 1.
//
//	go test -run '^$' -bench BenchmarkWAF -benchtime 1000x -count 3 ./internal/gateway/
func BenchmarkWAF(b *testing.B) {
	for _, tc := range []struct {
		name, doc, path, method string
		body                    []byte
	}{
		{"GET/no-waf-runtime", benchConfig, "/api/echo", "GET", nil},
		{"GET/no-waf-route-beside-waf", wafBenchConfig, "/api/echo", "GET", nil},
		{"GET/waf-pl1", wafBenchConfig, "/api/waf", "GET", nil},
		{"POST-1KiB-JSON/no-waf-runtime", benchConfig, "/api/echo", "POST", wafBenchBody},
		{"POST-1KiB-JSON/no-waf-route-beside-waf", wafBenchConfig, "/api/echo", "POST", wafBenchBody},
		{"POST-1KiB-JSON/waf-pl1", wafBenchConfig, "/api/waf", "POST", wafBenchBody},
		{"POST-1KiB-JSON-60-fields/no-waf-runtime", benchConfig, "/api/echo", "POST", wafBenchItems},
		{"POST-1KiB-JSON-60-fields/waf-pl1", wafBenchConfig, "/api/waf", "POST", wafBenchItems},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGateway(b, tc.doc, false, 0)
			serve := func() int {
				var req *http.Request
				if tc.method == "POST" {
					req = httptest.NewRequest("POST", "http://127.0.0.1"+tc.path+"?page=2", bytes.NewReader(tc.body))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req = httptest.NewRequest("GET", "http://127.0.0.1"+tc.path+"?page=2&sort=desc", nil)
				}
				req.Header.Set("User-Agent", "bench/1.0")
				req.Header.Set("Accept", "application/json")
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				return w.status
			}
			if s := serve(); s != http.StatusOK {
				b.Fatalf("status %d before timing", s)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for i := 0; i < b.N; i++ {
				if s := serve(); s != http.StatusOK {
					b.Fatal(fmt.Sprint("status ", s))
				}
			}
			// Process CPU time per request: steadier than wall time on a
			// shared machine (it also counts the GC's work).
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
