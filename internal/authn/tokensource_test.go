package authn

import (
	"errors"
	"net/http"
	"testing"
)

func TestExtractBearer(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		auth      []string
		cookie    string
		src       TokenSources
		want      string
		wantErr   string // "" ok, "na" not applicable, else Unauthenticated.Code
		wantQuery string
		wantCook  string
	}{
		{"header", "/x", []string{"Bearer abc"}, "", TokenSources{}, "abc", "", "", ""},
		{"header, extra spaces", "/x", []string{"Bearer   abc  "}, "", TokenSources{}, "abc", "", "", ""},
		{"no credential", "/x", nil, "", TokenSources{}, "", "na", "", ""},
		{"other scheme", "/x", []string{"Basic YTpi"}, "", TokenSources{}, "", "na", "", ""},
		{"two headers", "/x", []string{"Bearer a", "Bearer b"}, "", TokenSources{}, "", "invalid_request", "", ""},
		{"bearer and basic", "/x", []string{"Basic YTpi", "Bearer b"}, "", TokenSources{}, "", "invalid_request", "", ""},
		{"empty", "/x", []string{"Bearer"}, "", TokenSources{}, "", "invalid_request", "", ""},
		{"too long", "/x", []string{"Bearer 0123456789a"}, "", TokenSources{}, "", "invalid_token", "", ""},
		{"query ignored unless allowed", "/x?access_token=abc", nil, "", TokenSources{}, "", "na", "access_token=abc", ""},
		{"query allowed and stripped", "/x?a=1&access_token=abc", nil, "", TokenSources{Query: true}, "abc", "", "a=1", ""},
		{"query twice", "/x?access_token=a&access_token=b", nil, "", TokenSources{Query: true}, "", "invalid_request", "", ""},
		{"query and header", "/x?access_token=a", []string{"Bearer b"}, "", TokenSources{Query: true}, "", "invalid_request", "", ""},
		{"query empty", "/x?access_token=", nil, "", TokenSources{Query: true}, "", "invalid_request", "", ""},
		{"cookie ignored unless allowed", "/x", nil, "at=abc", TokenSources{}, "", "na", "", "at=abc"},
		{"cookie allowed and stripped", "/x", nil, "a=1; at=abc; b=2", TokenSources{Cookie: "at"}, "abc", "", "", "a=1; b=2"},
		{"cookie and header", "/x", []string{"Bearer b"}, "at=abc", TokenSources{Cookie: "at"}, "", "invalid_request", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "https://gw"+tt.url, nil)
			r.Header["Authorization"] = tt.auth
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			got, err := ExtractBearer(r, 10, tt.src)
			if err == nil {
				StripBearer(r, tt.src)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr == "na" && !errors.Is(err, ErrNotApplicable):
				t.Fatalf("err = %v, want not applicable", err)
			case tt.wantErr != "" && tt.wantErr != "na":
				var ue *Unauthenticated
				if !errors.As(err, &ue) || ue.Code != tt.wantErr {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("token = %q, want %q", got, tt.want)
			}
			if r.URL.RawQuery != tt.wantQuery {
				t.Fatalf("query left = %q, want %q", r.URL.RawQuery, tt.wantQuery)
			}
			if c := r.Header.Get("Cookie"); c != tt.wantCook {
				t.Fatalf("cookie left = %q, want %q", c, tt.wantCook)
			}
		})
	}
}

func FuzzExtractBearer(f *testing.F) {
	f.Add("Bearer abc", "a=1&access_token=x", "at=y")
	f.Add("bearer", "access_token=&access_token=", "at=")
	f.Add("Basic x", "%zz", "at=\"q\"")
	f.Fuzz(func(t *testing.T, auth, query, cookie string) {
		r, err := http.NewRequest("GET", "https://gw/x", nil)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = query
		r.Header["Authorization"] = []string{auth}
		r.Header["Cookie"] = []string{cookie}
		tok, err := ExtractBearer(r, 64, TokenSources{Query: true, Cookie: "at"})
		if err == nil && (tok == "" || len(tok) > 64) {
			t.Fatalf("accepted token %q", tok)
		}
	})
}
