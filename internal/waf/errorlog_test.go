package waf

import (
	"strings"
	"testing"
	"time"

	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/portcullis/portcullis/internal/observe"
)

type fakeRule struct{ id int }

func (r fakeRule) ID() int                    { return r.id }
func (fakeRule) File() string                 { return "@owasp_crs/REQUEST-942-APPLICATION-ATTACK-SQLI.conf" }
func (fakeRule) Line() int                    { return 1 }
func (fakeRule) Revision() string             { return "" }
func (fakeRule) Severity() types.RuleSeverity { return types.RuleSeverityCritical }
func (fakeRule) Version() string              { return "OWASP_CRS/4.25.0" }
func (fakeRule) Tags() []string               { return []string{"attack-sqli"} }
func (fakeRule) Maturity() int                { return 0 }
func (fakeRule) Accuracy() int                { return 0 }
func (fakeRule) Operator() string             { return "@rx" }
func (fakeRule) Phase() types.RulePhase       { return types.PhaseRequestBody }
func (fakeRule) Raw() string                  { return "" }
func (fakeRule) SecMark() string              { return "" }

type fakeData struct {
	v                   variables.RuleVariable
	key, val, msg, data string
}

func (d fakeData) Variable() variables.RuleVariable { return d.v }
func (d fakeData) Key() string                      { return d.key }
func (d fakeData) Value() string                    { return d.val }
func (d fakeData) Message() string                  { return d.msg }
func (d fakeData) Data() string                     { return d.data }
func (d fakeData) ChainLevel() int                  { return 0 }

type fakeMatch struct {
	uri string
	mds []types.MatchData
}

func (m fakeMatch) Message() string                 { return m.mds[0].Message() }
func (m fakeMatch) Data() string                    { return m.mds[0].Data() }
func (m fakeMatch) URI() string                     { return m.uri }
func (fakeMatch) TransactionID() string             { return "req-1" }
func (fakeMatch) Disruptive() bool                  { return false }
func (fakeMatch) ServerIPAddress() string           { return "10.0.0.1" }
func (fakeMatch) ClientIPAddress() string           { return "203.0.113.9" }
func (m fakeMatch) MatchedDatas() []types.MatchData { return m.mds }
func (fakeMatch) Rule() types.RuleMetadata          { return fakeRule{942100} }
func (fakeMatch) AuditLog() string                  { return "" }
func (fakeMatch) ErrorLog() string                  { return "" }

const card = "4111111111111111"

// A WAF log line is one line whatever the request put in it, and a card
// number or a credential parameter's value never appears in it.
func FuzzFormatLine(f *testing.F) {
	f.Add("SQL Injection (%s)", "Matched Data: %s found within ARGS:%s: %s", "/a?q=%s", "password", "1' OR '1'='1")
	f.Add("0", "%s", "%s", "pAsswd", "00000000") // the value in the URI's path
	f.Add("HTTP Parameter Pollution (ARGS:a\nb)", "x", "/p", "note", "x\r\n[id \"1\"]")
	f.Fuzz(func(t *testing.T, msg, data, uri, key, value string) {
		// The card is written as cards are, delimited: a run of digits it
		// merely starts ("41111111111111110") is a 17-digit number, not a
		// card number, and is not masked.
		ins := func(s string) string { return strings.ReplaceAll(s, "%s", value+" "+card+" ") }
		md := fakeData{v: variables.ArgsPost, key: key, val: value, msg: ins(msg), data: ins(data)}
		line := formatLine(fakeMatch{uri: ins(uri), mds: []types.MatchData{md}}, false, observe.NewRedactor(nil), time.Unix(0, 0))
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		if strings.Contains(line, card) {
			t.Fatalf("card number logged: %q", line)
		}
		if observe.CredentialName(key) && len(value) >= 8 && !strings.Contains(key, value) && !strings.Contains(uri+msg+data, value) &&
			strings.Contains(line, value) {
			t.Fatalf("credential value logged: %q", line)
		}
	})
}

func TestFormatLine(t *testing.T) {
	md := fakeData{v: variables.ArgsPost, key: "user.password", val: "hunter2-long", msg: "SQL Injection Attack", data: "Matched Data: hunter2-long found within ARGS_POST:user.password: hunter2-long"}
	line := formatLine(fakeMatch{uri: "/login?token=abc&card=" + card, mds: []types.MatchData{md}}, true, observe.NewRedactor(nil), time.Unix(0, 0))
	want := `1970-01-01T00:00:00.000000Z [client "203.0.113.9"] Coraza: Access denied (phase 2). SQL Injection Attack [file "@owasp_crs/REQUEST-942-APPLICATION-ATTACK-SQLI.conf"] [line "1"] [id "942100"] [rev ""] [msg "SQL Injection Attack"] [data "[REDACTED] within ARGS_POST:user.password"] [severity "critical"] [ver "OWASP_CRS/4.25.0"] [maturity "0"] [accuracy "0"] [tag "attack-sqli"] [hostname "10.0.0.1"] [uri "/login?token=[REDACTED]&card=[REDACTED]"] [unique_id "req-1"]` + "\n"
	if line != want {
		t.Fatalf("line\n got %s\nwant %s", line, want)
	}
}
