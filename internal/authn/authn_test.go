package authn

import (
	"errors"
	"net/http"
	"testing"
)

func TestChallengeString(t *testing.T) {
	c := Challenge{Scheme: "Bearer", Params: [][2]string{{"realm", "portcullis"}}}
	tests := []struct {
		name  string
		extra [][2]string
		want  string
	}{
		{"bare", nil, `Bearer realm="portcullis"`},
		{"error", [][2]string{{"error", "invalid_token"}, {"error_description", "The token expired."}},
			`Bearer realm="portcullis", error="invalid_token", error_description="The token expired."`},
		{"quotes and control bytes escaped", [][2]string{{"error_description", "a\"b\\c\r\nd"}},
			`Bearer realm="portcullis", error_description="a\"b\\cd"`},
		{"empty params skipped", [][2]string{{"scope", ""}}, `Bearer realm="portcullis"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.String(tt.extra...); got != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		err     error
		code    string
	}{
		{name: "none", err: ErrNotApplicable},
		{name: "basic is not ours", headers: []string{"Basic dXNlcjpwYXNz"}, err: ErrNotApplicable},
		{name: "bearer", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "case-insensitive scheme", headers: []string{"bearer abc"}, want: "abc"},
		{name: "empty bearer", headers: []string{"Bearer "}, code: "invalid_request"},
		{name: "two headers", headers: []string{"Bearer a", "Bearer b"}, code: "invalid_request"},
		{name: "too large", headers: []string{"Bearer " + string(make([]byte, 65))}, code: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}}
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := BearerToken(r, 64)
			var ue *Unauthenticated
			switch {
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			case tt.code != "":
				if !errors.As(err, &ue) || ue.Code != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
			default:
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v", got, err)
				}
			}
		})
	}
}
