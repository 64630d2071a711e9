package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchPayment is a typical payment initiation of about 1 KiB.
const benchPayment = `{"end_to_end_id":"0b9d6a9e-3f1c-4d2a-9c4e-2f0a7b6c5d4e","amount":"1250.00","currency":"EUR",` +
	`"requested_execution_date":"2026-03-02","created_at":"2026-03-01T09:15:27.123Z","charge_bearer":"SLEV","purpose":"SUPP",` +
	`"debtor":{"name":"Muster Handels- und Logistik GmbH & Co. KG","iban":"DE89370400440532013000","bic":"COBADEFFXXX",` +
	`"address":{"street":"Hauptstrasse","building":"12a","postcode":"60311","town":"Frankfurt am Main","country":"DE"}},` +
	`"creditor":{"name":"Example Industrial Supplies and Services Ltd","iban":"GB82WEST12345698765432","bic":"NWBKGB2L",` +
	`"address":{"street":"Commercial Road","building":"221","postcode":"E1 1LA","town":"London","country":"GB"}},` +
	`"remittance_information":"Invoice 2026-00042 of 2026-02-14, purchase order PO-77812, delivery note DN-5521, contract C-2026-17, payment terms net 30",` +
	`"tags":["supplier","monthly","approved-by-finance","cost-centre-4410","region-emea","contract-2026-17","batch-0302","ledger-ap-eur"],"instant":false,"priority":3}`

// BenchmarkValidation measures, side by side, one POST of benchPayment
// (and a GET) through the whole chain on routes without validation, with
// the default JSON limits, and with an OpenAPI 3.0 and 3.1 document of the
// payment; the canned upstream answers in memory.
func BenchmarkValidation(b *testing.B) {
	payment := []byte(benchPayment)
	if len(payment) < 900 || len(payment) > 1100 {
		b.Fatalf("payment is %d bytes, not about 1 KiB", len(payment))
	}
	dir := b.TempDir()
	spec, err := os.ReadFile("testdata/payment-bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"3.0.3", "3.1.0"} {
		doc := strings.Replace(string(spec), "openapi: 3.0.3", "openapi: "+v, 1)
		if err := os.WriteFile(filepath.Join(dir, v+".yaml"), []byte(doc), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	route := func(name, extra string) string {
		return "  - name: " + name + "\n    prefix: /" + name + "\n    upstream: up\n    auth: none\n" + extra
	}
	doc := strings.Replace(benchConfig, `routes:
  - name: echo
    path: /api/echo
    upstream: up
    auth: none
`, "routes:\n"+route("none", "    json_limits: {enabled: false}\n")+route("limits", "")+
		route("openapi30", "    openapi: {spec: "+filepath.Join(dir, "3.0.3.yaml")+", base_path: /openapi30}\n")+
		route("openapi31", "    openapi: {spec: "+filepath.Join(dir, "3.1.0.yaml")+", base_path: /openapi31}\n"), 1)
	h := benchGateway(b, doc, false, 0)
	for _, tc := range []struct {
		name, method, route string
	}{
		{"GET/no-validation", "GET", "none"},
		{"GET/json-limits", "GET", "limits"},
		{"POST-1KiB/no-validation", "POST", "none"},
		{"POST-1KiB/json-limits", "POST", "limits"},
		{"POST-1KiB/json-limits+openapi-3.0", "POST", "openapi30"},
		{"POST-1KiB/json-limits+openapi-3.1", "POST", "openapi31"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := "/" + tc.route
			if strings.HasPrefix(tc.route, "openapi") {
				path += "/v1/payments"
			}
			req := httptest.NewRequest(tc.method, "http://127.0.0.1"+path, nil)
			req.Header.Set("Idempotency-Key", "bench-1")
			var w *discardWriter
			serve := func() {
				if tc.method == "POST" {
					req.Header.Set("Content-Type", "application/json")
					req.Body = io.NopCloser(bytes.NewReader(payment))
					req.ContentLength = int64(len(payment))
				}
				w = &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
			serve()
			if w.status != http.StatusOK {
				b.Fatalf("status %d before timing", w.status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for i := 0; i < b.N; i++ {
				serve()
			}
			b.StopTimer()
			// CPU time, not wall time, is what a loaded machine (other
			// processes on the same cores) leaves steady; GC workers count.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			if w.status != http.StatusOK {
				b.Fatalf("status %d after %d requests", w.status, b.N)
			}
		})
	}
}
