package httpsig

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/dunglas/httpsfv"

	"github.com/portcullis/portcullis/internal/httpsig/internal/sfguard"
)

// FieldType is the Structured Field type of an HTTP field, needed for the
// sf and key component parameters.
type FieldType uint8

// Structured Field types.
const (
	FieldItem FieldType = iota + 1
	FieldList
	FieldDictionary
)

// FieldTypes names the Structured Field type of fields by lowercase name.
// Entries add to (or override) the built-in table of fields whose
// specifications define them as Structured Fields.
type FieldTypes map[string]FieldType

var builtinFieldTypes = FieldTypes{
	"signature-input":     FieldDictionary,
	"signature":           FieldDictionary,
	"accept-signature":    FieldDictionary,
	"content-digest":      FieldDictionary,
	"repr-digest":         FieldDictionary,
	"want-content-digest": FieldDictionary,
	"want-repr-digest":    FieldDictionary,
	"priority":            FieldDictionary,
	"cache-status":        FieldList,
	"proxy-status":        FieldList,
	"idempotency-key":     FieldItem,
}

func (t FieldTypes) lookup(name string) (FieldType, bool) {
	if ft, ok := t[name]; ok {
		return ft, true
	}
	ft, ok := builtinFieldTypes[name]
	return ft, ok
}

// fieldValue canonicalises an HTTP field for the signature base (RFC 9421
// Section 2.1).
func fieldValue(c Component, h http.Header, types FieldTypes) (string, error) {
	// A copy: trimming below must not rewrite the message's own header.
	lines := slices.Clone(h.Values(c.Name))
	if len(lines) == 0 {
		return "", compErr(c, "field not present")
	}
	for i, l := range lines {
		// Field lines never hold CR, LF or NUL once a server has parsed
		// them; one here would let a value add its own lines (a forged
		// "@signature-params" line) to the signature base. obs-fold
		// cannot be told apart from that, so it is refused too.
		if strings.ContainsAny(l, "\r\n\x00") {
			return "", compErr(c, "field value holds a line break or NUL")
		}
		lines[i] = strings.Trim(l, " \t")
	}
	switch {
	case c.BS:
		parts := make([]string, len(lines))
		for i, l := range lines {
			parts[i] = ":" + base64.StdEncoding.EncodeToString([]byte(l)) + ":"
		}
		return strings.Join(parts, ", "), nil
	case c.SF || c.Key != "":
		return structuredValue(c, lines, types)
	}
	v := strings.Join(lines, ", ")
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < 0x20 && b != '\t') || b >= 0x7f {
			return "", compErr(c, "field value is not ASCII (cover it with ;bs)")
		}
	}
	return v, nil
}

func structuredValue(c Component, lines []string, types FieldTypes) (string, error) {
	ft, ok := types.lookup(c.Name)
	if !ok {
		return "", newErr(ErrUnsupported, "", sanitize(c.ident)+": structured type of the field is unknown")
	}
	if c.Key != "" && ft != FieldDictionary {
		return "", newErr(ErrUnsupported, "", sanitize(c.ident)+": key needs a Dictionary field")
	}
	if sfguard.CombinedLen(lines) > maxStructuredBytes {
		return "", compErr(c, "field too large to re-serialise")
	}
	var (
		out string
		err error
	)
	switch ft {
	case FieldDictionary:
		var d *httpsfv.Dictionary
		d, err = sfguard.ParseDictionary(lines, maxStructuredBytes)
		if errors.Is(err, sfguard.ErrDuplicate) {
			return "", compErr(c, "dictionary repeats a key or parameter")
		}
		if err != nil {
			break
		}
		if c.Key == "" {
			out, err = httpsfv.Marshal(d)
			break
		}
		m, ok := d.Get(c.Key)
		if !ok {
			return "", compErr(c, "dictionary has no such key")
		}
		switch v := m.(type) {
		case httpsfv.Item:
			out, err = httpsfv.Marshal(v)
		case httpsfv.InnerList:
			out, err = httpsfv.Marshal(httpsfv.List{v})
		}
	case FieldList:
		var l httpsfv.List
		if l, err = httpsfv.UnmarshalList(lines); err == nil {
			out, err = httpsfv.Marshal(l)
		}
	case FieldItem:
		var it httpsfv.Item
		if it, err = httpsfv.UnmarshalItem(lines); err == nil {
			out, err = httpsfv.Marshal(it)
		}
	}
	if err != nil {
		return "", compErr(c, "field is not a valid structured value")
	}
	return out, nil
}
