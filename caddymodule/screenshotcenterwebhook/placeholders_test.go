package screenshotcenterwebhook

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/scheme"
)

// The placeholders the README and the Handler's doc table list are the
// ones the handler answers, no more and no fewer (body_sha256 was missing
// from both tables).
func TestPlaceholderTablesMatchTheCode(t *testing.T) {
	repl := caddy.NewReplacer()
	body := []byte(`{"event":"screenshot.finished","screenshot_id":"1","batch_id":"2","created_at":"2026-01-01T00:00:00Z"}`)
	sc, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{Secrets: [][]byte{[]byte(testSecret)}})
	if err != nil {
		t.Fatal(err)
	}
	v := newRequestVars(repl, "enforce", sc)
	v.outcome, v.reason, v.key, v.delivery = "queued", "none", "k", "d"
	ev := gateway.Event{Body: body}
	signed, rf := sc.Read(scheme.Request{Body: body})
	if rf != nil {
		t.Fatal(rf)
	}
	ev.Signed = signed
	v.setEvent(ev)

	row := regexp.MustCompile("`\\{" + regexp.QuoteMeta(placeholderPrefix) + "([a-z_0-9]+)\\}`")
	tables := map[string]string{"README.md": readFile(t, "../../README.md"), "config.go": readFile(t, "config.go")}
	var lists [][]string
	for file, text := range tables {
		var names []string
		for _, m := range row.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
		for _, n := range names {
			if _, ok := v.replace(placeholderPrefix + n); !ok {
				t.Errorf("%s lists {%s%s}, which the handler does not answer", file, placeholderPrefix, n)
			}
		}
		slices.Sort(names)
		lists = append(lists, names)
	}
	if !slices.Equal(lists[0], lists[1]) {
		t.Errorf("README and config.go list different placeholders: %v vs %v", lists[0], lists[1])
	}
	// Every name the code answers is listed: probe the names a handler
	// could plausibly have, from its own switch.
	src := readFile(t, "placeholders.go")
	for _, m := range regexp.MustCompile(`case "([a-z_0-9]+)":`).FindAllStringSubmatch(src, -1) {
		if !slices.Contains(lists[0], m[1]) {
			t.Errorf("the handler answers {%s%s}, which the tables do not list", placeholderPrefix, m[1])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
