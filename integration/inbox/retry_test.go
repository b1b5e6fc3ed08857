package inbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// After an outage of the application, pending entries waiting 6 hours for
// their next attempt are delivered now: one through the admin API, one by
// `scgate inbox retry <id>`, the rest by `scgate inbox retry --state
// pending`; each once, with attempt number 2 (the same entry, no copy).
// Replaying a pending entry is refused with words about entries; retrying
// a delivered one is refused too.
func TestInboxRetryAfterOutage(t *testing.T) {
	var up atomic.Bool
	app := gatewaytest.NewUpstream(t)
	app.Respond(func(int, gatewaytest.Request) int {
		if !up.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	store := filepath.Join(t.TempDir(), "inbox.db")
	gw := startInbox(t, gatewaytest.Options{Config: inboxConfig(store, app.URL, "attempts 5", "backoff 6h")})
	cliEnv := []string{"XDG_DATA_HOME=" + t.TempDir()}
	address := "--address=" + strings.TrimPrefix(gw.AdminURL, "http://")

	var ids []string
	for i := range 4 {
		id := mustQueue(t, gw, event(i))
		eventually.Succeeds(t, time.Minute, func() error {
			// The log, not Attempts: an attempt counts once it starts.
			if e := entryState(t, gw, id); e.State != "pending" || len(e.Log) != 1 || e.Log[0].Status != http.StatusServiceUnavailable {
				return fmt.Errorf("entry %s: %s after %d attempts logged, want pending after one 503", id, e.State, len(e.Log))
			}
			return nil
		})
		ids = append(ids, id)
	}
	up.Store(true)

	// A pending entry cannot be replayed: the answer says so of entries.
	status, msg := adminPost(t, gw, "/scgate/inbox/"+ids[0]+"/replay")
	if status != http.StatusConflict || !strings.Contains(msg, "entries can be replayed") || strings.Contains(msg, "deliveries") || !strings.Contains(msg, "retry") {
		t.Fatalf("replay of a pending entry: %d %s; want 409 about entries, pointing to retry", status, msg)
	}

	adminJSON(t, gw, http.MethodPost, "/scgate/inbox/"+ids[0]+"/retry", http.StatusOK, nil)
	waitState(t, gw, ids[0], "delivered")

	out, stderr, code := gatewaytest.Run(t, cliEnv, "inbox", "retry", ids[1], address)
	if code != 0 || !strings.Contains(out, ids[1]+" due now (attempt 2 next)") {
		t.Fatalf("scgate inbox retry <id>: %d\n%s%s", code, out, stderr)
	}
	waitState(t, gw, ids[1], "delivered")

	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "retry", "--state=pending", "--json", address)
	var ans struct {
		Stores []struct {
			Store   string
			Retried []string
		}
	}
	if err := json.Unmarshal([]byte(out), &ans); code != 0 || err != nil || len(ans.Stores) != 1 ||
		fmt.Sprint(ans.Stores[0].Retried) != fmt.Sprint(ids[2:]) {
		t.Fatalf("scgate inbox retry --state pending: %d %v\n%s%s; want %v retried", code, err, out, stderr, ids[2:])
	}
	for _, id := range ids {
		waitState(t, gw, id, "delivered")
		if got := attemptsOf(app, id); len(got) != 2 || got[1] != "2" {
			t.Errorf("entry %s reached the application at attempts %v, want 1 then 2", id, got)
		}
	}

	status, msg = adminPost(t, gw, "/scgate/inbox/"+ids[0]+"/retry")
	if status != http.StatusConflict || !strings.Contains(msg, "only pending entries") || !strings.Contains(msg, "replay it") {
		t.Errorf("retry of a delivered entry: %d %s; want 409 pointing to replay", status, msg)
	}
	if _, stderr, code := gatewaytest.Run(t, cliEnv, "inbox", "retry", "--state=failed", address); code == 0 || !strings.Contains(stderr, "give state pending") {
		t.Errorf("scgate inbox retry --state failed: %d %s; want refused", code, stderr)
	}

	// On the file of a stopped gateway: the next gateway delivers the
	// retried entry at once, not 6 hours on.
	up.Store(false)
	late := mustQueue(t, gw, event(9))
	eventually.Succeeds(t, time.Minute, func() error {
		if e := entryState(t, gw, late); len(e.Log) != 1 {
			return fmt.Errorf("entry %s: %d attempts logged, want 1", late, len(e.Log))
		}
		return nil
	})
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "retry", "--state=pending", "--store="+store)
	if code != 0 || !strings.Contains(out, late+" due now") || !strings.Contains(out, "1 pending entries due now") {
		t.Fatalf("scgate inbox retry --state pending on the file: %d\n%s%s", code, out, stderr)
	}
	up.Store(true)
	gw = startInbox(t, gatewaytest.Options{Config: inboxConfig(store, app.URL, "attempts 5", "backoff 6h")})
	waitState(t, gw, late, "delivered")
	if got := attemptsOf(app, late); len(got) != 2 || got[1] != "2" {
		t.Errorf("the entry retried on the file reached the application at attempts %v, want 1 then 2", got)
	}
}

// adminPost posts to gw's admin endpoint and returns the status and body.
func adminPost(t *testing.T, gw *gatewaytest.Gateway, path string) (int, string) {
	t.Helper()
	resp, err := http.Post(gw.AdminURL+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
