package secmon

// The receivers of the end-to-end tests parse what they get with the
// RFC-side parser of syslogparse_test.go.
var (
	ReadFrame = readFrame
	Parse5424 = parse5424
)

// Message5424 is a parsed RFC 5424 message.
type Message5424 = message5424
