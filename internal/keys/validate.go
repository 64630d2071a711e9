package keys

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/config"
)

// InvalidError lists what is wrong with a request's input, field by field.
// Messages are fixed text and never echo a value back.
type InvalidError struct{ Fields []FieldProblem }

// FieldProblem is one invalid field.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error lists every problem.
func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

type checker struct{ problems []FieldProblem }

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, FieldProblem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &InvalidError{Fields: c.problems}
}

var (
	nameRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}$`)
	scopeRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:._/-]{0,127}$`)
	tierRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	labelKeyRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	roleNames  = map[string]bool{"admin": true, "operator": true, "auditor": true}
)

// Limits on admin input, so one request cannot store unbounded data.
const (
	maxListItems = 64
	maxLabels    = 32
	maxLabelLen  = 256
	maxTextLen   = 2048
	maxExpiry    = 10 * 365 * 24 * time.Hour
)

func (c *checker) name(field, v string) {
	if !nameRe.MatchString(v) {
		c.add(field, "must be 1-128 letters, digits, spaces or ._@- and start with a letter or digit")
	}
}

func (c *checker) list(field string, v []string, re *regexp.Regexp, what string) {
	if len(v) > maxListItems {
		c.add(field, "at most %d %s", maxListItems, what)
		return
	}
	seen := map[string]bool{}
	for i, s := range v {
		switch {
		case !re.MatchString(s):
			c.add(fmt.Sprintf("%s[%d]", field, i), "invalid %s (allowed: %s)", strings.TrimSuffix(what, "s"), re)
		case seen[s]:
			c.add(fmt.Sprintf("%s[%d]", field, i), "duplicate")
		}
		seen[s] = true
	}
}

func (c *checker) tier(field, v string) {
	if v != "" && !tierRe.MatchString(v) {
		c.add(field, "must match %s", tierRe)
	}
}

func (c *checker) labels(field string, m map[string]string) {
	if len(m) > maxLabels {
		c.add(field, "at most %d labels", maxLabels)
		return
	}
	for k, v := range m {
		if !labelKeyRe.MatchString(k) {
			c.add(field, "label names must match %s", labelKeyRe)
		}
		if len(v) > maxLabelLen || !printable(v) {
			c.add(field+"."+safeKey(k), "must be at most %d printable characters", maxLabelLen)
		}
	}
}

func (c *checker) text(field, v string) {
	if len(v) > maxTextLen || !utf8.ValidString(v) {
		c.add(field, "must be valid UTF-8 of at most %d bytes", maxTextLen)
	}
}

func (c *checker) cidrs(field string, v []string) []string {
	if len(v) > maxListItems {
		c.add(field, "at most %d CIDRs", maxListItems)
		return nil
	}
	out := make([]string, 0, len(v))
	for i, s := range v {
		p, err := config.ParsePrefix(s)
		if err != nil {
			c.add(fmt.Sprintf("%s[%d]", field, i), "must be an IP address or CIDR")
			continue
		}
		out = append(out, p.String())
	}
	return out
}

func (c *checker) expiry(field string, t, now time.Time) {
	if t.IsZero() {
		return
	}
	if !t.After(now) {
		c.add(field, "must be in the future")
	} else if t.Sub(now) > maxExpiry {
		c.add(field, "must be within 10 years")
	}
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// safeKey keeps a label key in a field path only if it is well formed.
func safeKey(k string) string {
	if labelKeyRe.MatchString(k) {
		return k
	}
	return "?"
}
