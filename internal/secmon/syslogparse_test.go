package secmon

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// This file is the receiving side of RFC 5425 and RFC 5424, written from
// the RFCs' ABNF as a collector would apply it, so the tests check what
// the shipper writes against the grammar rather than against itself.

// message5424 is a parsed RFC 5424 message.
type message5424 struct {
	Pri                      int
	Version                  int
	Time                     time.Time
	Host, App, ProcID, MsgID string
	SDID                     string
	Params                   map[string]string
	Msg                      []byte
}

var errSyntax = errors.New("rfc5424/5425 syntax error")

// readFrame splits one octet-counted frame (RFC 5425 §4.3: MSG-LEN SP
// SYSLOG-MSG, MSG-LEN = NONZERO-DIGIT 0*8DIGIT) off data. It returns
// ok false when data holds only part of a frame.
func readFrame(data []byte) (msg, rest []byte, ok bool, err error) {
	sp := bytes.IndexByte(data, ' ')
	if sp < 0 {
		if len(data) > 9 {
			return nil, nil, false, errSyntax
		}
		return nil, data, false, nil
	}
	digits := data[:sp]
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' {
		return nil, nil, false, errSyntax
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, nil, false, errSyntax
		}
		n = n*10 + int(c-'0')
	}
	if len(data) < sp+1+n {
		return nil, data, false, nil
	}
	return data[sp+1 : sp+1+n], data[sp+1+n:], true, nil
}

// parse5424 parses one SYSLOG-MSG with exactly one SD-ELEMENT (what the
// shipper writes) or the NILVALUE.
func parse5424(b []byte) (message5424, error) {
	var m message5424
	if len(b) < 2 || b[0] != '<' {
		return m, errSyntax
	}
	end := bytes.IndexByte(b, '>')
	if end < 2 || end > 4 {
		return m, errSyntax
	}
	pri, err := strconv.Atoi(string(b[1:end]))
	if err != nil || pri > 191 || (end > 2 && b[1] == '0') {
		return m, errSyntax
	}
	m.Pri = pri
	rest := b[end+1:]
	field := func(max int) (string, error) {
		sp := bytes.IndexByte(rest, ' ')
		if sp <= 0 || sp > max {
			return "", errSyntax
		}
		f := string(rest[:sp])
		for i := 0; i < len(f); i++ {
			if f[i] < 33 || f[i] > 126 {
				return "", errSyntax
			}
		}
		rest = rest[sp+1:]
		return f, nil
	}
	ver, err := field(3)
	if err != nil || ver != "1" {
		return m, errSyntax
	}
	m.Version = 1
	ts, err := field(32)
	if err != nil {
		return m, err
	}
	if ts != "-" {
		if m.Time, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return m, errSyntax
		}
	}
	for _, f := range []struct {
		to  *string
		max int
	}{{&m.Host, 255}, {&m.App, 48}, {&m.ProcID, 128}, {&m.MsgID, 32}} {
		if *f.to, err = field(f.max); err != nil {
			return m, err
		}
	}
	if len(rest) > 0 && rest[0] == '-' {
		rest = rest[1:]
	} else {
		if len(rest) == 0 || rest[0] != '[' {
			return m, errSyntax
		}
		rest = rest[1:]
		m.Params = map[string]string{}
		i := 0
		for i < len(rest) && rest[i] != ' ' && rest[i] != ']' {
			i++
		}
		m.SDID = string(rest[:i])
		if m.SDID == "" || len(m.SDID) > 32 || strings.ContainsAny(m.SDID, `="`) {
			return m, errSyntax
		}
		rest = rest[i:]
		for len(rest) > 0 && rest[0] == ' ' {
			rest = rest[1:]
			eq := bytes.IndexByte(rest, '=')
			if eq <= 0 || eq > 32 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return m, errSyntax
			}
			name := string(rest[:eq])
			if strings.ContainsAny(name, ` ]"`) {
				return m, errSyntax
			}
			rest = rest[eq+2:]
			var val []byte
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				switch {
				case c == '\\' && j+1 < len(rest) && (rest[j+1] == '"' || rest[j+1] == '\\' || rest[j+1] == ']'):
					val = append(val, rest[j+1])
					j++
				case c == '"':
					rest, closed = rest[j+1:], true
				case c == ']':
					return m, errSyntax // must be escaped inside a value
				default:
					val = append(val, c)
				}
				if closed {
					break
				}
			}
			if !closed {
				return m, errSyntax
			}
			if _, dup := m.Params[name]; dup {
				return m, errSyntax
			}
			m.Params[name] = string(val)
		}
		if len(rest) == 0 || rest[0] != ']' {
			return m, errSyntax
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return m, errSyntax
		}
		m.Msg = rest[1:]
	}
	return m, nil
}
