package secmon

import (
	"encoding/json"
	"time"

	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/secevent"
)

// EventView is an event as it leaves the gateway: in the security log, to
// syslog (the message and its structured data), to webhooks (the body)
// and from the admin API. It is built in one place, viewOf, which passes
// every string field through the log redactor (anything shaped like a
// credential or a card number is masked) and bounds its length: a second
// line of defence behind the emitters, which never put a secret there.
type EventView struct {
	// Log is "security" in the security log, so lines can share a stream.
	Log          string           `json:"log,omitempty"`
	ID           string           `json:"id"`
	Time         time.Time        `json:"time"`
	Type         string           `json:"type"`
	Severity     string           `json:"severity"`
	RequestID    string           `json:"request_id,omitempty"`
	ClientIP     string           `json:"client_ip,omitempty"`
	Consumer     string           `json:"consumer,omitempty"`
	CredentialID string           `json:"credential_id,omitempty"`
	Route        string           `json:"route,omitempty"`
	Method       string           `json:"method,omitempty"`
	Status       int              `json:"status,omitempty"`
	Reason       string           `json:"reason,omitempty"`
	Actor        string           `json:"actor,omitempty"`
	Detector     string           `json:"detector,omitempty"`
	Action       string           `json:"action,omitempty"`
	Subject      string           `json:"subject,omitempty"`
	BlockID      string           `json:"block_id,omitempty"`
	Until        *time.Time       `json:"until,omitempty"`
	Evidence     map[string]int64 `json:"evidence,omitempty"`
}

// maxField bounds every string field of a view.
const maxField = 512

func viewOf(ev *secevent.Event) EventView {
	v := EventView{ID: ev.ID, Time: ev.Time.UTC(), Type: string(ev.Type), Severity: ev.Severity.String(),
		RequestID: clean(ev.RequestID), Consumer: clean(ev.Consumer), CredentialID: clean(ev.Credential),
		Route: clean(ev.Route), Method: clean(ev.Method), Status: ev.Status, Reason: clean(ev.Reason),
		Actor: clean(ev.Actor), Detector: clean(ev.Detector), Action: clean(ev.Action), Subject: clean(ev.Subject),
		BlockID: clean(ev.BlockID), Evidence: ev.Evidence}
	if ev.ClientIP.IsValid() {
		v.ClientIP = ev.ClientIP.String()
	}
	if !ev.Until.IsZero() {
		u := ev.Until.UTC()
		v.Until = &u
	}
	return v
}

// clean masks credentials and card numbers, then bounds the length (the
// cut never leaves half a card number).
func clean(s string) string {
	if s == "" {
		return s
	}
	return observe.Clip(observe.Redact(s), maxField)
}

// encode is the JSON line of ev for the log and the body for webhooks.
func encode(ev *secevent.Event) []byte {
	v := viewOf(ev)
	v.Log = "security"
	return append(encodeView(v), '\n')
}

func encodeView(v EventView) []byte {
	b, _ := json.Marshal(v)
	return b
}
