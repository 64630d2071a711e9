package server_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/server"
)

// docs/operations.md says which settings need a restart; it names exactly
// the keys a reload keeps at their running value.
func TestRestartOnlyIsDocumented(t *testing.T) {
	page, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	para := regexp.MustCompile(`(?s)These settings need a restart: (.*?)\. A reload`).FindSubmatch(page)
	if para == nil {
		t.Fatal(`docs/operations.md lacks the sentence "These settings need a restart: ... . A reload"`)
	}
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z_.]+)`").FindAllSubmatch(para[1], -1) {
		documented = append(documented, string(m[1]))
	}
	if got, want := strings.Join(documented, ", "), strings.Join(server.RestartOnlyKeys(), ", "); got != want {
		t.Fatalf("docs/operations.md lists %s\nreload keeps           %s", got, want)
	}
}

// reload.watch and reload.interval are applied by a reload: turning the
// watch on with SIGHUP makes the next edit of the file reload by itself.
func TestReloadAppliesWatchSettings(t *testing.T) {
	a, b, c := named(t, "A"), named(t, "B"), named(t, "C")
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})
	sigs := make(chan os.Signal, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-done }()
	go func() { done <- g.srv.Run(ctx, sigs) }()

	writeWatched := func(up string) {
		t.Helper()
		writeConfig(t, g, up)
		f, err := os.OpenFile(g.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("reload: {watch: true, interval: 100ms}\n"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(want string) {
		t.Helper()
		var body string
		for i := 0; i < 300 && body != want; i++ {
			_, body = g.get("/v1/accounts")
			time.Sleep(20 * time.Millisecond)
		}
		if body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	writeWatched(b.URL)
	sigs <- syscall.SIGHUP
	waitFor("B")
	// No signal now: the watch the reload turned on finds the change.
	time.Sleep(20 * time.Millisecond) // a distinct modification time
	writeWatched(c.URL)
	waitFor("C")
}
