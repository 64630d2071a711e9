package console

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/keys"
)

// apiError is an admin API problem answer as the console shows it.
type apiError struct {
	Status int                 `json:"status"`
	Title  string              `json:"title"`
	Detail string              `json:"detail"`
	Fields []keys.FieldProblem `json:"errors"`
}

func (e *apiError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	var parts []string
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return msg
}

// call runs an admin API operation as a for the browser request r and
// decodes a 2xx answer into out (nil: ignored).
func (c *Console) call(r *http.Request, a *admin.Actor, method, target string, body, out any) *apiError {
	return c.callCtx(r.Context(), r.RemoteAddr, a, method, target, body, out)
}

func (c *Console) callCtx(ctx context.Context, remote string, a *admin.Actor, method, target string, body, out any) *apiError {
	status, b := c.d.Admin.Invoke(ctx, a, remote, method, target, body)
	if status >= 200 && status < 300 {
		if out != nil && len(b) > 0 {
			if err := json.Unmarshal(b, out); err != nil {
				return &apiError{Status: http.StatusInternalServerError, Title: "The admin API's answer could not be read."}
			}
		}
		return nil
	}
	e := &apiError{}
	if json.Unmarshal(b, e) != nil || e.Status == 0 {
		e = &apiError{Title: http.StatusText(status)}
	}
	e.Status = status
	return e
}

// list is an admin API list page.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
