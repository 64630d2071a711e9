package openapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/portcullis/portcullis/internal/jsonlimits"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/validate"
)

// Metric kinds of response findings.
const (
	kindResponseStatus        = "response_status"
	kindResponseMediaType     = "response_media_type"
	kindResponseBody          = "response_body"
	kindResponseUninspectable = "response_uninspectable"
)

// responseCheck is what checking one response needs.
type responseCheck struct {
	max    int64
	budget *validate.Budget
}

// check checks resp against op, keeping its body in memory within the
// budget (resp.Body is replaced with the kept bytes, given back to the
// budget when it is closed). uninspectable reports a response that could
// not be checked; its body is left to stream.
func (c responseCheck) check(resp *http.Response, op *operation) (v verdict, uninspectable bool, err error) {
	if op.responses == nil || op.responses.Len() == 0 {
		return v, false, nil
	}
	ref := op.responses.Status(resp.StatusCode)
	if ref == nil {
		ref = op.responses.Default()
	}
	if ref == nil || ref.Value == nil {
		v.add(kindResponseStatus, problem.Violation{Reason: "the status is not declared"})
		return v, false, nil
	}
	if resp.ContentLength == 0 || resp.Body == nil || resp.Body == http.NoBody {
		return v, false, nil
	}
	mt, present, ok := jsonlimits.RequestMediaType(resp.Header)
	switch {
	case mt.Type == "text/event-stream",
		resp.ContentLength > c.max,
		resp.Header.Get("Content-Encoding") != "" && !strings.EqualFold(resp.Header.Get("Content-Encoding"), "identity"):
		return v, true, nil
	}
	body, kept, err := c.keep(resp)
	if err != nil || !kept {
		return v, !kept, err
	}
	if len(body) == 0 {
		return v, false, nil
	}
	content := ref.Value.Content
	if len(content) == 0 {
		v.add(kindResponseBody, problem.AtPointer("", "the response has a body the document does not declare"))
		return v, false, nil
	}
	if !ok || !present || content.Get(mt.Type) == nil {
		v.add(kindResponseMediaType, problem.Violation{In: "header", Parameter: "Content-Type", Reason: "is not a media type the document declares for this response"})
		return v, false, nil
	}
	schema := op.responseSchemas[content.Get(mt.Type)]
	if schema == nil || !jsonlimits.IsJSON(mt.Type) {
		return v, false, nil
	}
	vs, err := checkJSON(body, schema)
	if err != nil {
		return v, false, err
	}
	v.add(kindResponseBody, vs...)
	return v, false, nil
}

// keep reads resp's body into memory, at most c.max bytes, counted in
// the budget. kept is false when the body is larger or the budget is
// spent; what was read is then put back in front of the rest, so the
// body can still be relayed whole.
func (c responseCheck) keep(resp *http.Response) (body []byte, kept bool, err error) {
	reserve := c.max
	if resp.ContentLength > 0 {
		reserve = resp.ContentLength
	}
	if !c.budget.Acquire(reserve) {
		return nil, false, nil
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, c.max+1))
	if err != nil {
		c.budget.Release(reserve)
		return nil, false, errors.Join(errReadResponse, err)
	}
	if int64(buf.Len()) > c.max {
		c.budget.Release(reserve)
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf.Bytes()), resp.Body), resp.Body}
		return nil, false, nil
	}
	resp.Body = &keptBody{Reader: bytes.NewReader(buf.Bytes()), orig: resp.Body, release: func() { c.budget.Release(reserve) }}
	return buf.Bytes(), true, nil
}

var errReadResponse = errors.New("reading the upstream response to validate it")

type readCloser struct {
	io.Reader
	io.Closer
}

// keptBody is a response body held for validation; closing it (the proxy
// does, whether the response was relayed or refused) gives its memory
// back.
type keptBody struct {
	*bytes.Reader
	orig    io.Closer
	release func()
	once    sync.Once
}

func (k *keptBody) Close() error {
	k.once.Do(k.release)
	return k.orig.Close()
}
