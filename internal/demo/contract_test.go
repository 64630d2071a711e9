package demo

import (
	"bufio"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// contractRows reads the contract tables of docs/demo.md (the format
// .ci/demo-contract reads too): tables whose first header cell is kind
// ("check" or "field") and whose last is "lands with". It returns each
// row's id and its "lands with" value.
func contractRows(t *testing.T, kind string) map[string]string {
	t.Helper()
	f, err := os.Open("../../docs/demo.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]string{}
	in, header := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first, last := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[len(cells)-1])
		switch {
		case !in && first == kind && last == "lands with":
			in, header = true, true
		case in && header:
			header = false // the |---| line
		case in:
			id, ok := strings.CutPrefix(first, "`")
			if id, ok = strings.CutSuffix(id, "`"); !ok || id == "" {
				t.Fatalf("docs/demo.md: %s row without a backticked id: %s", kind, line)
			}
			rows[id] = last
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("docs/demo.md has no %q table with a \"lands with\" column", kind)
	}
	return rows
}

// The credentials file holds exactly the fields docs/demo.md marks landed:
// a field added without flipping its row, or a row flipped before its field
// exists, fails here (and in .ci/demo-smoke against the binary).
func TestCredentialsAreTheLandedFields(t *testing.T) {
	var landed []string
	for id, lands := range contractRows(t, "field") {
		if lands == "landed" {
			landed = append(landed, id)
		}
	}
	var fields []string
	tp := reflect.TypeFor[Credentials]()
	for i := range tp.NumField() {
		name, _, _ := strings.Cut(tp.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	slices.Sort(landed)
	slices.Sort(fields)
	if !slices.Equal(fields, landed) {
		t.Fatalf("Credentials has the JSON fields %v\ndocs/demo.md marks landed %v", fields, landed)
	}
}
