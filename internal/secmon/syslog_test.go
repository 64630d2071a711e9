package secmon

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/secevent"
)

func TestFormat5424(t *testing.T) {
	ev := &secevent.Event{ID: "ab-1", Time: time.Date(2031, 2, 3, 4, 5, 6, 789_000_000, time.UTC), Type: secevent.AuthFailure,
		Severity: secevent.Info, RequestID: "r1", ClientIP: netip.MustParseAddr("203.0.113.9"), Credential: "k1",
		Route: "accounts", Method: "GET", Status: 401, Reason: `keys: wrong "secret" \ [x]`}
	got := string(format5424(nil, 10, ev, "gw 1", "portcullis", "42"))
	want := `<86>1 2031-02-03T04:05:06.789000Z gw_1 portcullis 42 auth_failure [portcullis@32473 id="ab-1" type="auth_failure" severity="info" request_id="r1" client_ip="203.0.113.9" credential_id="k1" route="accounts" method="GET" status="401" reason="keys: wrong \"secret\" \\ [x\]"] {"id":"ab-1","time":"2031-02-03T04:05:06.789Z","type":"auth_failure","severity":"info","request_id":"r1","client_ip":"203.0.113.9","credential_id":"k1","route":"accounts","method":"GET","status":401,"reason":"keys: wrong \"secret\" \\ [x]"}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	frame := frame5425([]byte(got))
	msg, rest, ok, err := readFrame(append(frame, "12 partial"...))
	if !ok || err != nil || string(msg) != got || string(rest) != "12 partial" {
		t.Fatalf("frame: %v %v %q", ok, err, rest)
	}
	m, err := parse5424(msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pri != 86 || m.Host != "gw_1" || m.MsgID != "auth_failure" || m.SDID != sdID ||
		m.Params["reason"] != `keys: wrong "secret" \ [x]` || m.Params["status"] != "401" {
		t.Fatalf("parsed %+v", m)
	}
}

func TestSeverityMapsToSyslog(t *testing.T) {
	for sev, want := range map[secevent.Severity]int{secevent.Info: 6, secevent.Notice: 5, secevent.Warning: 4, secevent.High: 3, secevent.Critical: 2} {
		t.Run(sev.String(), func(t *testing.T) {
			if got := sev.Syslog(); got != want {
				t.Fatalf("%s = %d, want %d", sev, got, want)
			}
		})
	}
}

// Whatever an event holds (fields come partly from clients: request ids,
// reasons), the message is valid RFC 5424 in an RFC 5425 frame, and a
// collector reads back the same field values.
func FuzzSyslogRoundTrip(f *testing.F) {
	f.Add("r1", "reason ] \" \\", "consumer", "route", "GET", "host", uint8(3))
	f.Add("", "", "", "", "", "", uint8(0))
	f.Add("\xff\xfe", "a\x00b\nc", "ü", "]]]", "\\", "h o s t", uint8(9))
	f.Fuzz(func(t *testing.T, reqID, reason, consumer, route, method, host string, sev uint8) {
		ev := &secevent.Event{ID: "x-1", Time: time.Unix(1_900_000_000, 123_000), Type: secevent.Blocked,
			Severity: secevent.Severity(sev % 5), RequestID: reqID, Reason: reason, Consumer: consumer, Route: route, Method: method}
		msg := format5424(nil, 13, ev, host, "portcullis", "1")
		got, rest, ok, err := readFrame(frame5425(msg))
		if !ok || err != nil || len(rest) != 0 || !bytes.Equal(got, msg) {
			t.Fatalf("frame: %v %v", ok, err)
		}
		m, err := parse5424(got)
		if err != nil {
			t.Fatalf("%v: %q", err, got)
		}
		v := viewOf(ev)
		for name, want := range map[string]string{"request_id": v.RequestID, "reason": v.Reason, "consumer": v.Consumer,
			"route": v.Route, "method": v.Method} {
			want = strings.ToValidUTF8(want, "\uFFFD")
			if m.Params[name] != want {
				t.Fatalf("%s = %q, want %q", name, m.Params[name], want)
			}
			if !utf8.ValidString(m.Params[name]) {
				t.Fatalf("%s is not UTF-8", name)
			}
		}
		if m.Pri != 13*8+ev.Severity.Syslog() {
			t.Fatalf("pri %d", m.Pri)
		}
		var back EventView
		if err := json.Unmarshal(m.Msg, &back); err != nil || back.ID != "x-1" {
			t.Fatalf("MSG is not the event's JSON: %v %q", err, m.Msg)
		}
	})
}

// The collector's side is untrusted input for the tests' receivers:
// arbitrary bytes never panic the frame reader or the parser.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("5 <1>1 "))
	f.Add([]byte(`30 <13>1 - - - - - [a b="\]"] x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for {
			msg, rest, ok, err := readFrame(data)
			if err != nil || !ok {
				return
			}
			_, _ = parse5424(msg)
			data = rest
		}
	})
}
