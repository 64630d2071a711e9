package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/tlsconf"
)

// Client calls the admin API (the CLI's keys and consumers commands).
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// vouched: base answered as the admin API, so the token may go there.
	vouched bool
}

// ClientOptions say how to reach and authenticate to the admin API.
type ClientOptions struct {
	// URL is the admin API base URL (https only).
	URL string
	// Token is an admin token; or use CertFile and KeyFile.
	Token string
	// CAFile verifies the admin listener's certificate (default: system
	// roots).
	CAFile string
	// CertFile and KeyFile are a client certificate.
	CertFile, KeyFile string
	// Timeout bounds each call. Default 30s.
	Timeout time.Duration
}

// NewClient checks o and returns a Client.
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("the admin URL must be https://host:port")
	}
	if o.Token == "" && o.CertFile == "" {
		return nil, errors.New("an admin token (PORTCULLIS_ADMIN_TOKEN) or a client certificate is required")
	}
	tc, err := tlsconf.ClientConfig(o.CAFile, o.CertFile, o.KeyFile, "")
	if err != nil {
		return nil, err
	}
	tc.MinVersion = tls.VersionTLS12
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	return &Client{base: u, token: o.Token, http: &http.Client{
		Timeout:   o.Timeout,
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true},
	}}, nil
}

// AdminHeader marks every answer of the admin API.
const AdminHeader = "Portcullis-Admin"

// NotAdminError is an answer from something that is not the admin API
// (typically the gateway's public port).
type NotAdminError struct {
	URL    string
	Status int
}

func (e *NotAdminError) Error() string {
	return fmt.Sprintf("%s answered %d but is not the Portcullis admin API", e.URL, e.Status)
}

// APIError is a problem the admin API answered with.
type APIError struct {
	Status int
	// RetryAfter is the answer's Retry-After in seconds ("" when none).
	RetryAfter string
	Title      string
	Detail     string
	Fields     []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
}

// Error renders the problem and its invalid fields.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// Do sends method path (with query) and a JSON body (nil for none), and
// decodes a JSON answer into out (nil to discard). Problems come back as
// *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	if c.token != "" && !c.vouched {
		if err := c.vouch(ctx); err != nil {
			return err
		}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ref, err := url.Parse(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.ResolveReference(ref).String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.Header.Get(AdminHeader) == "" {
		return &NotAdminError{URL: c.base.String(), Status: resp.StatusCode}
	}
	if resp.StatusCode >= 400 {
		ae := &APIError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), RetryAfter: resp.Header.Get("Retry-After")}
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(data, &p) == nil && p.Title != "" {
			ae.Title, ae.Detail = p.Title, p.Detail
		}
		var f struct {
			Errors []struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(data, &f) == nil {
			ae.Fields = f.Errors
		}
		return ae
	}
	if out != nil && len(data) > 0 {
		if raw, ok := out.(*json.RawMessage); ok {
			*raw = append((*raw)[:0], data...)
			return nil
		}
		return json.Unmarshal(data, out)
	}
	return nil
}

// vouch asks base, without credentials, whether it is the admin API, so an
// admin token never goes to whatever else answers there (the public port
// would hand it to an upstream). A request without credentials is not a
// failed authentication: it does not count towards a block.
func (c *Client) vouch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.ResolveReference(&url.URL{Path: "/v1/whoami"}).String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.Header.Get(AdminHeader) == "" {
		return &NotAdminError{URL: c.base.String(), Status: resp.StatusCode}
	}
	c.vouched = true
	return nil
}
