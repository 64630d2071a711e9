package config

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var syntaxLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// maxSyntaxSearch bounds the documents whose syntax errors are located by
// re-parsing prefixes (one parse per line after the reported one).
const maxSyntaxSearch = 1 << 20

// syntaxError is a YAML syntax error with the line where the problem is.
// The parser reports the line where the construct it was reading began
// (its "context": the list or mapping above a mis-indented key), which can
// be far above the mistake. The first prefix of the document, from that
// line on, that fails with the same message ends on the offending line: a
// prefix ending before the mistake is either valid or fails differently
// (an unterminated quote, the end of the stream).
func syntaxError(data []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	m := syntaxLine.FindStringSubmatch(err.Error())
	if m == nil || len(data) > maxSyntaxSearch {
		return "yaml: " + msg
	}
	reported, _ := strconv.Atoi(m[1])
	problem := m[2]
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := 0
	for i, l := range lines {
		end += len(l)
		if i+1 < reported {
			continue
		}
		perr := yaml.Unmarshal(data[:end], new(yaml.Node))
		if perr == nil {
			continue
		}
		if pm := syntaxLine.FindStringSubmatch(perr.Error()); pm != nil && pm[2] == problem {
			return "yaml: line " + strconv.Itoa(i+1) + ": " + problem
		}
	}
	return "yaml: " + msg
}
