package demo

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// paymentsAPI is the sample backend behind the demo gateway: a tiny
// payments API that echoes what the gateway forwarded, so a newcomer can see
// the identity and forwarding headers the upstream receives.
func paymentsAPI() http.Handler {
	var seq atomic.Int64
	accounts := []map[string]any{
		{"id": "acc_1001", "name": "Operating account", "currency": "EUR", "balance": "125000.00"},
		{"id": "acc_1002", "name": "Payroll account", "currency": "EUR", "balance": "48210.55"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"data": accounts, "seen_by_upstream": seen(r)})
	})
	mux.HandleFunc("GET /v1/fapi/accounts", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"data": accounts, "seen_by_upstream": seen(r)})
	})
	mux.HandleFunc("GET /v1/accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, a := range accounts {
			if a["id"] == r.PathValue("id") {
				reply(w, http.StatusOK, map[string]any{"data": a, "seen_by_upstream": seen(r)})
				return
			}
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Account not found","status":404}` + "\n"))
	})
	mux.HandleFunc("POST /v1/payments", func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&p); err != nil {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Invalid payment","status":400}` + "\n"))
			return
		}
		id := seq.Add(1)
		reply(w, http.StatusCreated, map[string]any{
			"id": "pay_" + time.Now().UTC().Format("20060102") + "_" + itoa(id), "status": "accepted",
			"seen_by_upstream": seen(r),
		})
	})
	mux.HandleFunc("POST /v1/transfers", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusCreated, map[string]any{
			"id": "trf_" + time.Now().UTC().Format("20060102") + "_" + itoa(seq.Add(1)), "status": "accepted",
			"seen_by_upstream": seen(r),
		})
	})
	mux.HandleFunc("GET /v1/fx/rates", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{
			"base": "EUR", "rates": map[string]string{"USD": "1.0842", "GBP": "0.8571", "CHF": "0.9433"},
			"seen_by_upstream": seen(r),
		})
	})
	return mux
}

// seen reports the headers the gateway set, never credentials.
func seen(r *http.Request) map[string]string {
	out := map[string]string{"path": r.URL.Path}
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Consumer") || strings.HasPrefix(k, "X-Forwarded") ||
			k == "X-Request-Id" || k == "X-Scopes" || k == "X-Auth-Method" || k == "Forwarded" || k == "X-Fapi-Interaction-Id" {
			out[k] = r.Header.Get(k)
		}
	}
	return out
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server", "sample-payments/1.0") // the gateway strips this
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
