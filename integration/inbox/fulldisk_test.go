package inbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// fullDiskLimit is the size past which no file of the gateway of
// TestFullDiskAnswers503 can grow, as on a full disk.
const fullDiskLimit = 1 << 20

// An inbox that cannot store an event answers 503 with Retry-After and
// inbox_unavailable, never 202: the gateway runs with its files limited
// to 1 MiB (prlimit --fsize, as on a full disk) and gets 64 KiB events
// until the inbox file cannot grow; every event that got 202 is in the
// file.
func TestFullDiskAnswers503(t *testing.T) {
	store := filepath.Join(t.TempDir(), "inbox.db")
	gw := startInbox(t, gatewaytest.Options{
		Config: inboxConfig(store, "http://127.0.0.1:9/"), // the application is down: everything stays
		Wrap:   []string{"prlimit", fmt.Sprintf("--fsize=%d", fullDiskLimit), "--"},
	})
	padding := bytes.Repeat([]byte{' '}, 64<<10)
	acked := map[string]bool{}
	refused := 0
	for i := 0; i < 2*fullDiskLimit/len(padding) && refused < 3; i++ {
		body := append(append([]byte(nil), padding...), event(i)...)
		a, err := send(http.DefaultClient, gw, body)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a.status == http.StatusAccepted && a.delivery != "":
			if refused > 0 {
				t.Logf("event %d queued after a refusal (freed pages)", i)
			}
			acked[a.delivery] = true
		case a.status == http.StatusServiceUnavailable && a.reason == "inbox_unavailable":
			refused++
		default:
			t.Fatalf("event %d: %+v, want 202 queued or 503 inbox_unavailable", i, a)
		}
	}
	if refused == 0 || len(acked) == 0 {
		t.Fatalf("%d events queued and %d refused: want some of each (the limit did not bite?)\n%s", len(acked), refused, gw.Output())
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gatewaytest.Run(t, nil, "inbox", "list", "--store="+store, "--state=pending", "--limit=0", "--json")
	var list struct {
		Stores []struct{ Entries []struct{ ID string } }
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Stores) != 1 {
		t.Fatalf("scgate inbox list: %d %v\n%s%s", code, err, out, stderr)
	}
	stored := map[string]bool{}
	for _, e := range list.Stores[0].Entries {
		stored[e.ID] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("event %s got 202 but is not in the inbox", id)
		}
	}
	t.Logf("%d events queued, then %d refused with 503", len(acked), refused)
}

// An inbox file that cannot be written (its path is a directory, or lies
// under a regular file: permissions do not stop root) is never
// acknowledged into: the gateway does not start, saying which file, and
// nothing answers 202; a reload onto it is refused and the running config
// goes on queueing into its own inbox.
func TestUnwritableInboxFileNeverAcknowledges(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{dir, filepath.Join(notADir, "inbox.db")} {
		gw, err := gatewaytest.Launch(t, gatewaytest.Options{Config: inboxConfig(store, "http://127.0.0.1:9/"),
			Env: []string{"SCGATE_E2E_SECRET=" + secret}})
		if err == nil {
			if a, err := send(http.DefaultClient, gw, event(0)); err == nil && a.status == http.StatusAccepted {
				t.Errorf("store %s: an event was answered 202", store)
			}
			t.Fatalf("store %s: the gateway started", store)
		}
		if !strings.Contains(gw.Output(), store) {
			t.Errorf("store %s: the error does not name the file:\n%s", store, gw.Output())
		}
	}

	good := filepath.Join(t.TempDir(), "inbox.db")
	gw := startInbox(t, gatewaytest.Options{Config: inboxConfig(good, "http://127.0.0.1:9/")})
	if err := gw.Reload(inboxConfig(filepath.Join(notADir, "inbox.db"), "http://127.0.0.1:9/")); err == nil {
		t.Fatal("a reload onto an unwritable inbox file was accepted")
	}
	id := mustQueue(t, gw, event(1))
	var shown struct{ Store string }
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox/"+id, http.StatusOK, &shown)
	if shown.Store != good {
		t.Errorf("after the refused reload the event was queued in %q, want %s", shown.Store, good)
	}
}
