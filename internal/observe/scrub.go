package observe

import (
	"encoding/base64"
	"strings"
)

// Redact returns s with every card number masked to its last four digits
// and every credential it recognises replaced by [REDACTED]. It is the
// one function every log line passes through (the application log's
// handler, the access log's encoder, standard-library error lines), so a
// value needs no per-field care to be safe. What it recognises:
//
//   - card numbers: 13 to 19 digits passing the Luhn check, optionally
//     separated by single spaces, dashes, plus signs or %20/%2D;
//   - JOSE objects (JWTs, JWS, JWE, DPoP proofs): anything from "eyJ" on;
//   - the gateway's own credentials: pcl_<kind>_<id>_ keeps its public
//     prefix, the secret after it goes;
//   - Authorization values: Bearer, DPoP and Negotiate credentials of 8
//     characters or more, and Basic credentials that decode to user:pass;
//   - credential parameters: the value after name= (and "name": in JSON)
//     where the name ends in token, secret, password, passwd, api_key,
//     api-key, apikey, authorization or cookie;
//   - header lines: the rest of the line after Authorization:,
//     Proxy-Authorization:, Cookie:, Set-Cookie:, DPoP: and any dashed
//     header name that ends like a credential parameter (X-Api-Key:).
//
// An opaque secret with none of these shapes, in a field whose name says
// nothing, cannot be recognised: headers known to carry credentials are
// therefore redacted by name and query values always (Redactor, Query).
// The result is stable: Redact(Redact(s)) == Redact(s). s is returned as
// is (no allocation) when nothing matches.
func Redact(s string) string { return scrub(s, true) }

// RedactPAN masks card numbers only (see Redact).
func RedactPAN(s string) string { return scrub(s, false) }

func scrub(s string, creds bool) string {
	sc := scrubber{s: s, creds: creds}
	sc.run()
	if sc.out == nil {
		return s
	}
	sc.out = append(sc.out, s[sc.last:]...)
	return string(sc.out)
}

// scrubber copies s to out lazily: out stays nil until the first change.
type scrubber struct {
	s     string
	creds bool
	out   []byte
	last  int // s[last:] is not copied yet
}

func (sc *scrubber) replace(i, j int) {
	if sc.out == nil {
		sc.out = make([]byte, 0, len(sc.s)+len(Redacted))
	}
	sc.out = append(sc.out, sc.s[sc.last:i]...)
	sc.out = append(sc.out, Redacted...)
	sc.last = j
}

// minSchemeLen is the shortest scheme match: "dpop" (the shortest word), a
// space, 8 characters of credential.
const minSchemeLen = 4 + 1 + 8

// Bytes where a match can start: most bytes of a log value are none of
// these and cost one table lookup.
var panStarts, credStarts [256]bool

func init() {
	for c := '0'; c <= '9'; c++ {
		panStarts[c], credStarts[c] = true, true
	}
	panStarts['%'], credStarts['%'] = true, true
	for _, c := range "epbBdDnN=:" {
		credStarts[c] = true
	}
}

func (sc *scrubber) run() {
	s := sc.s
	starts := &panStarts
	if sc.creds {
		starts = &credStarts
	}
	for i := 0; i < len(s); {
		c := s[i]
		if !starts[c] {
			i++
			continue
		}
		j := i
		switch {
		case c == '%':
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				// An escape is neither a digit of a card number nor
				// the start of a word.
				j = i + 3
			}
		case isDigit(c):
			// Runs are consumed whole, so a digit here starts one.
			j = sc.pan(i)
		case c == 'e' || c == 'p':
			// Most e's and p's start neither "eyJ" nor "pcl_".
			if i+3 < len(s) && (s[i+1] == 'y' && s[i+2] == 'J' || s[i+1] == 'c' && s[i+2] == 'l' && s[i+3] == '_') {
				j = sc.embedded(i)
			}
		case c == '=' || c == ':':
			j = sc.param(i)
		case (i == 0 || !isLetter(s[i-1])) && len(s)-i >= minSchemeLen:
			j = sc.scheme(i)
		}
		if j == i {
			j++
		}
		i = j
	}
}

// pan looks at the digit run starting at i and masks it when it is a card
// number. It returns where the run ends.
func (sc *scrubber) pan(i int) int {
	s := sc.s
	var d [19]byte
	n, j := 0, i
	for j < len(s) {
		if isDigit(s[j]) {
			if n < len(d) {
				d[n] = s[j] - '0'
			}
			n++
			j++
			continue
		}
		if sep := panSeparator(s, j); sep > 0 && j+sep < len(s) && isDigit(s[j+sep]) {
			j += sep
			continue
		}
		break
	}
	if n < 13 || n > 19 || !luhn(d[:n]) {
		// A card number may sit inside a longer run of separated groups
		// ("qty 1 4111 1111 1111 1111"): try the runs that start and end
		// at group boundaries. Fewer than 13 digits hold none.
		if n < 13 {
			return j
		}
		sc.maskWithin(i, j)
		return j
	}
	sc.maskPAN(i, j)
	return j
}

// maskWithin masks, in the run s[i:j] of digit groups joined by
// separators, every card number made of whole groups: from each group
// where one starts, the longest such sub-run (a shorter match would leave
// the card's tail readable), then on after it, so a number that happens to
// pass the check in front ("0000000000000000000 4111...") cannot shield
// the card behind it.
// Cards are written in groups of at least four digits (4-4-4-4, 4-6-5),
// so only such groups are joined: "1 2 3 ... 13" stays readable.
func (sc *scrubber) maskWithin(i, j int) {
	s := sc.s
	type group struct{ start, end int }
	var groups []group
	for k := i; k < j; {
		if isDigit(s[k]) {
			g := group{start: k}
			for k < j && isDigit(s[k]) {
				k++
			}
			g.end = k
			groups = append(groups, g)
			continue
		}
		k += max(panSeparator(s, k), 1)
	}
	if len(groups) < 2 {
		return
	}
	var d []byte
	for a := 0; a < len(groups); {
		d = d[:0]
		last := -1
		for b := a; b < len(groups) && groups[b].end-groups[b].start >= 4; b++ {
			for k := groups[b].start; k < groups[b].end; k++ {
				d = append(d, s[k]-'0')
			}
			if len(d) > 19 {
				break
			}
			if len(d) >= 13 && luhn(d) {
				last = b
			}
		}
		if last < 0 {
			a++
			continue
		}
		sc.maskPAN(groups[a].start, groups[last].end)
		a = last + 1
	}
}

// maskPAN masks the card number s[i:j] to its last four digits.
func (sc *scrubber) maskPAN(i, j int) {
	s := sc.s
	n := 0
	for k := i; k < j; {
		if isDigit(s[k]) {
			n++
			k++
			continue
		}
		k += max(panSeparator(s, k), 1)
	}
	if sc.out == nil {
		sc.out = make([]byte, 0, len(s))
	}
	sc.out = append(sc.out, s[sc.last:i]...)
	seen := 0
	for k := i; k < j; {
		if isDigit(s[k]) {
			seen++
			if seen <= n-4 {
				sc.out = append(sc.out, '*')
			} else {
				sc.out = append(sc.out, s[k])
			}
			k++
			continue
		}
		sep := max(panSeparator(s, k), 1)
		sc.out = append(sc.out, s[k:k+sep]...)
		k += sep
	}
	sc.last = j
}

// panSeparator is the length of a separator a card number may be written
// with at s[j] (0 if none).
func panSeparator(s string, j int) int {
	switch s[j] {
	case ' ', '-', '+':
		return 1
	case '%':
		if j+2 < len(s) && s[j+1] == '2' && (s[j+2] == '0' || s[j+2]|0x20 == 'd') {
			return 3
		}
	}
	return 0
}

func luhn(digits []byte) bool {
	sum, double := 0, false
	for k := len(digits) - 1; k >= 0; k-- {
		d := int(digits[k])
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// embedded handles the credentials recognised wherever they start: JOSE
// objects ("eyJ", base64url of `{"`) and pcl_ credentials. It returns
// where the match ends, or i.
func (sc *scrubber) embedded(i int) int {
	s := sc.s
	switch {
	case strings.HasPrefix(s[i:], "eyJ"):
		j := i + 3
		for j < len(s) && (isB64URL(s[j]) || s[j] == '.' || s[j] == '=' || s[j] == '+' || s[j] == '/') {
			j++
		}
		if j-i < 16 {
			return i
		}
		sc.replace(i, j)
		return j
	case strings.HasPrefix(s[i:], "pcl_"):
		j := i + 4
		for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
			j++
		}
		// pcl_<kind>_<12-character id>_<secret>: the id is public.
		keep := i + 4
		if k := strings.IndexByte(s[keep:j], '_'); k > 0 {
			if idEnd := keep + k + 1 + 12; idEnd < j && s[idEnd] == '_' {
				keep = idEnd + 1
			}
		}
		if j-keep < 4 {
			return i
		}
		sc.replace(keep, j)
		return j
	}
	return i
}

// scheme handles an Authorization scheme word at i followed by its
// credential.
func (sc *scrubber) scheme(i int) int {
	s := sc.s
	var word string
	for _, w := range [...]string{"bearer", "basic", "dpop", "negotiate"} {
		if len(s)-i > len(w) && strings.EqualFold(s[i:i+len(w)], w) {
			word = w
			break
		}
	}
	if word == "" {
		return i
	}
	j := i + len(word)
	if s[j] != ' ' && s[j] != '\t' {
		return i
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	start := j
	for j < len(s) && isToken68(s[j]) {
		j++
	}
	for j < len(s) && s[j] == '=' {
		j++
	}
	cred := s[start:j]
	if len(cred) < 8 || cred == Redacted {
		return i
	}
	if word == "basic" && !basicCredential(cred) {
		return i
	}
	sc.replace(start, j)
	return j
}

// basicCredential reports whether cred is base64 of user:password.
func basicCredential(cred string) bool {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "="))
	}
	return err == nil && strings.IndexByte(string(b), ':') > 0
}

// param handles name=value and name: value at the = or : at i, when the
// name says the value is a credential.
func (sc *scrubber) param(i int) int {
	s := sc.s
	// The name, possibly quoted as in JSON ("name": or, escaped, \"name\":).
	e := i
	quoted := false
	if e > 0 && s[e-1] == '"' {
		quoted = true
		e--
		if e > 0 && s[e-1] == '\\' {
			e--
		}
	}
	b := e
	for b > 0 && e-b < 40 && isNameByte(s[b-1]) {
		b--
	}
	if b == e || b > 0 && isNameByte(s[b-1]) {
		return i
	}
	name := s[b:e]
	header := false
	if s[i] == ':' && !quoted {
		// Unquoted "name:" is a header line only for credential headers,
		// so ordinary "token: expired" messages stay readable.
		if !credentialHeader(name) {
			return i
		}
		header = true
	} else if !credentialName(name) {
		return i
	}
	j := i + 1
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	start := j
	switch {
	case header:
		for j < len(s) && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' && s[j] != 0x7f {
			j++
		}
	case j < len(s) && (s[j] == '"' || s[j] == '\''):
		q := s[j]
		j++
		start = j
		for j < len(s) && s[j] != q && s[j] != '\\' && s[j] >= 0x20 {
			j++
		}
	case j+1 < len(s) && s[j] == '\\' && s[j+1] == '"':
		j += 2
		start = j
		for j < len(s) && s[j] != '\\' && s[j] != '"' && s[j] >= 0x20 {
			j++
		}
	default:
		for j < len(s) && s[j] > 0x20 && !strings.ContainsRune("&;,\"'\\<>", rune(s[j])) && s[j] != 0x7f {
			j++
		}
	}
	if j == start || s[start:j] == Redacted {
		return i
	}
	sc.replace(start, j)
	return j
}

// credentialName reports whether a parameter or JSON member called name
// holds a credential.
func credentialName(name string) bool {
	var buf [40]byte
	n := copy(buf[:], name)
	for k := range n {
		if c := buf[k]; c >= 'A' && c <= 'Z' {
			buf[k] = c + 'a' - 'A'
		}
	}
	l := buf[:n]
	for _, suffix := range [...]string{"token", "secret", "password", "passwd", "api_key", "api-key", "apikey", "authorization", "cookie"} {
		if len(l) >= len(suffix) && string(l[len(l)-len(suffix):]) == suffix {
			return true
		}
	}
	return false
}

// credentialHeader reports whether a header line "name: value" carries a
// credential.
func credentialHeader(name string) bool {
	for _, h := range [...]string{"authorization", "proxy-authorization", "cookie", "set-cookie", "dpop", "api-key", "apikey"} {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return strings.IndexByte(name, '-') > 0 && credentialName(name)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool  { return isDigit(c) || isLetter(c) }
func isHex(c byte) bool    { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }
func isNameByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-'
}

// isToken68 is RFC 9110's token68 without the trailing '='.
func isToken68(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
