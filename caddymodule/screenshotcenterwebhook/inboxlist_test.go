package screenshotcenterwebhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/inbox"
)

// queuedFile is an inbox file at a temporary path holding one queued
// event with body, open for reading as `scgate inbox` opens it.
func queuedFile(t *testing.T, body string) namedInbox {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inbox.db")
	in, err := inbox.Open(path, inbox.Options{Settings: inbox.Settings{Destination: "http://127.0.0.1:9/hook"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Enqueue(inbox.Event{Body: []byte(body), Header: http.Header{"Content-Type": {"application/json"}},
		DedupeKey: `screenshot_id "sc_1"`, Type: "screenshot.finished"}); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := inbox.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return namedInbox{path: path, src: f}
}

// A list does not read bodies: its entries say nothing of their size
// (they said "body_bytes": 0), while a show gives the size.
func TestInboxListHasNoBodySize(t *testing.T) {
	const body = `{"event":"screenshot.finished","screenshot_id":"sc_1"}`
	src := queuedFile(t, body)
	ans, err := answerInbox([]namedInbox{src}, http.MethodGet, inboxAdminBase, url.Values{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ans)
	if strings.Contains(string(raw), "body_bytes") {
		t.Errorf("a list's entries have a body size they did not read: %s", raw)
	}
	id := ans.(inboxList).Stores[0].Entries[0].ID
	shown, err := answerInbox([]namedInbox{src}, http.MethodGet, inboxAdminBase+"/"+id, url.Values{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(shown)
	if !strings.Contains(string(raw), `"body_bytes":54`) || len(body) != 54 {
		t.Errorf("a show lacks the body's size (%d): %s", len(body), raw)
	}
}

// `scgate inbox list` lines its rows up under its header: the store's
// line (which has no columns) comes before the header, not between it
// and the rows (tabwriter aligns only lines with cells next to each
// other).
func TestInboxListColumnsLineUp(t *testing.T) {
	src := queuedFile(t, `{"event":"screenshot.finished","screenshot_id":"sc_1"}`)
	ans, err := listInboxes([]namedInbox{src}, inbox.States, 10)
	if err != nil {
		t.Fatal(err)
	}
	ans.Stores[0].Open = true
	var out bytes.Buffer
	if err := writeInboxList(&out, ans, time.Now()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	header, row := -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "ID "):
			header = i
		case strings.Contains(l, "pending  "):
			row = i
		}
	}
	if header < 0 || row < 0 || row < header {
		t.Fatalf("no header then row in:\n%s", out.String())
	}
	if h, r := strings.Index(lines[header], "STATE"), strings.Index(lines[row], "pending"); h != r {
		t.Errorf("STATE at column %d, the row's state at %d:\n%s", h, r, out.String())
	}
	if h, r := strings.Index(lines[header], "DEDUPE KEY"), strings.Index(lines[row], `screenshot_id "sc_1"`); h != r {
		t.Errorf("DEDUPE KEY at column %d, the row's key at %d:\n%s", h, r, out.String())
	}
}
