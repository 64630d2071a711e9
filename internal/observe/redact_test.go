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
