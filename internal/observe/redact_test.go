package observe

import "testing"

func TestRedactPAN(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"visa", "/cards/4111111111111111", "/cards/************1111"},
		{"dashes", "card 4111-1111-1111-1111 ok", "card ****-****-****-1111 ok"},
		{"spaces", "5500 0000 0000 0004", "**** **** **** 0004"},
		{"amex 15", "378282246310005", "***********0005"},
		{"not luhn", "/orders/4111111111111112", "/orders/4111111111111112"},
		{"too short", "/ids/123456789012", "/ids/123456789012"},
		{"too long", "/ids/41111111111111111111", "/ids/41111111111111111111"},
		{"no digits", "/v1/accounts", "/v1/accounts"},
		{"timestamp-ish not luhn", "1732924800000123", "1732924800000123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactPAN(tt.in); got != tt.want {
				t.Fatalf("RedactPAN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a=1&b=2", "a=[REDACTED]&b=[REDACTED]"},
		{"flag&x=", "flag&x=[REDACTED]"},
		{"api_key=pcl_live_abc", "api_key=[REDACTED]"},
	}
	for _, tt := range tests {
		if got := Query(tt.in); got != tt.want {
			t.Errorf("Query(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor([]string{"X-Partner-Secret"})
	for _, h := range []string{"authorization", "Cookie", "Set-Cookie", "X-API-Key", "x-partner-secret", "Proxy-Authorization"} {
		if got := r.HeaderValue(h, "secret"); got != Redacted {
			t.Errorf("%s not redacted: %q", h, got)
		}
	}
	if got := r.HeaderValue("X-Correlation-Id", "abc"); got != "abc" {
		t.Errorf("plain header redacted: %q", got)
	}
}

func TestRedact(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
	const key = "pcl_live_3kTq9ZpW2xYb_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh1a2B3c"
	tests := []struct{ name, in, want string }{
		{"pan", "4111111111111111", "************1111"},
		{"pan with spaces", "card 4111 1111 1111 1111.", "card **** **** **** 1111."},
		{"pan with dashes", "4111-1111-1111-1111", "****-****-****-1111"},
		{"pan with plus signs", "q=4111+1111+1111+1111", "q=****+****+****+1111"},
		{"pan with %20", "/x?4111%201111%201111%201111", "/x?****%20****%20****%201111"},
		{"pan after an escape", "%0a4111111111111111", "%0a************1111"},
		{"pan after %20", "a%204111111111111111", "a%20************1111"},
		{"pan in quoted bytes", `"HTTP/1.1 200 OK\r\n\r\n4111111111111111"`, `"HTTP/1.1 200 OK\r\n\r\n************1111"`},
		{"pan glued to letters", "id4111111111111111x", "id************1111x"},
		{"pan after a number and a space", "qty 1 4111111111111111", "qty 1 ************1111"},
		{"a number that passes the check cannot shield the card behind it", "0000000000000000000 4111111111111111 x",
			"***************0000 ************1111 x"},
		{"two cards in one run", "4111111111111111 5500 0000 0000 0004", "************1111 **** **** **** 0004"},
		{"pan before a number", "4111 1111 1111 1111 7", "**** **** **** 1111 7"},
		{"no pan in a long run", "1 2 3 4 5 6 7 8 9 10 11 12 13", "1 2 3 4 5 6 7 8 9 10 11 12 13"},
		{"not luhn", "4111111111111112", "4111111111111112"},
		{"jwt", "token " + jwt + " end", "token [REDACTED] end"},
		{"jwt glued", "x" + jwt, "x[REDACTED]"},
		{"short eyJ", "eyJhbGci", "eyJhbGci"},
		{"gateway key", "key=" + key, "key=pcl_live_3kTq9ZpW2xYb_[REDACTED]"},
		{"gateway key alone", key, "pcl_live_3kTq9ZpW2xYb_[REDACTED]"},
		{"malformed gateway key", "pcl_garbage_value", "pcl_[REDACTED]"},
		{"key prefix only", "pcl_live_3kTq9ZpW2xYb_", "pcl_live_3kTq9ZpW2xYb_"},
		{"bearer", "Authorization: Bearer opaque-token-123", "Authorization: [REDACTED]"},
		{"bearer alone", "bearer s3cr3t-opaque-value", "bearer [REDACTED]"},
		{"dpop scheme", "DPoP abcdefghij12", "DPoP [REDACTED]"},
		{"basic", "Basic YWxpY2U6c2VjcmV0", "Basic [REDACTED]"},
		{"basic english", "basic authentication failed", "basic authentication failed"},
		{"bearer reason", "bearer token too large", "bearer token too large"},
		{"query credential", "/p?access_token=abc&x=1", "/p?access_token=[REDACTED]&x=1"},
		{"suffix credential", "client_secret=s3cr3t;", "client_secret=[REDACTED];"},
		{"json credential", `{"password":"hunter2 x","user":"bob"}`, `{"password":"[REDACTED]","user":"bob"}`},
		{"escaped json credential", `{\"refresh_token\":\"abc\"}`, `{\"refresh_token\":\"[REDACTED]\"}`},
		{"cookie header line", "Cookie: session=abc; theme=dark\r\nX: y", "Cookie: [REDACTED]\r\nX: y"},
		{"quoted header lines", `"Set-Cookie: sid=1\r\nX-Api-Key: k\r\n"`, `"Set-Cookie: [REDACTED]\r\nX-Api-Key: [REDACTED]\r\n"`},
		{"token message", "invalid token: expired", "invalid token: expired"},
		{"already redacted", "access_token=[REDACTED]", "access_token=[REDACTED]"},
		{"plain", "GET /v1/accounts 200", "GET /v1/accounts 200"},
		{"address", "127.0.0.1:8443", "127.0.0.1:8443"},
		{"url", "https://idp.example/jwks.json", "https://idp.example/jwks.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Redact(got); again != got {
				t.Fatalf("not stable: %q then %q", got, again)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"long", "abcdefgh", 5, "abcde..."},
		{"never half a card number", "/x/4111111111111111", 10, "/x/..."},
		{"separators too", "p 4111 1111 1111 1111", 12, "p..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clip(tt.in, tt.n); got != tt.want {
				t.Fatalf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	for _, s := range []string{"sczfiraogwxqk2cn", "/v1/accounts/12345/transactions", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "127.0.0.1:8443"} {
		b.Run(s[:min(len(s), 12)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Redact(s)
			}
		})
	}
}
