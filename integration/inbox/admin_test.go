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

// The inbox admin routes and `scgate inbox` on a running gateway, then on
// the file once it stopped: a dead letter is listed, shown and replayed
// by state and time range; a delivered event replayed is delivered again
// with a new attempt number; the metrics show the entries by state.
func TestInboxAdminAndCommand(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	app := gatewaytest.NewUpstream(t)
	app.Respond(func(int, gatewaytest.Request) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	store := filepath.Join(t.TempDir(), "inbox.db")
	opts := gatewaytest.Options{Config: inboxConfig(store, app.URL, "attempts 2", "backoff 10ms")}
	gw := startInbox(t, opts)
	cliEnv := []string{"XDG_DATA_HOME=" + t.TempDir()} // no default store: the command asks the gateway
	address := "--address=" + strings.TrimPrefix(gw.AdminURL, "http://")

	dead := mustQueue(t, gw, event(1))
	e := waitState(t, gw, dead, "failed")
	if len(e.Log) != 2 || e.BodyBytes != len(event(1)) || e.DedupeKey == "" {
		t.Fatalf("dead letter %+v: want 2 attempts logged, its body size and dedupe key", e)
	}
	failing.Store(false)
	done := mustQueue(t, gw, event(2))
	waitState(t, gw, done, "delivered")

	var list struct {
		Stores []struct {
			Store   string
			Open    bool
			Counts  map[string]int
			Entries []entry
		}
	}
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox?state=failed", http.StatusOK, &list)
	if len(list.Stores) != 1 || list.Stores[0].Store != store || !list.Stores[0].Open ||
		list.Stores[0].Counts["failed"] != 1 || list.Stores[0].Counts["delivered"] != 1 ||
		len(list.Stores[0].Entries) != 1 || list.Stores[0].Entries[0].ID != dead {
		t.Fatalf("failed entries listed: %+v", list)
	}
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox/no-such-id", http.StatusNotFound, nil)
	adminJSON(t, gw, http.MethodPost, "/scgate/inbox/"+dead, http.StatusMethodNotAllowed, nil)
	adminJSON(t, gw, http.MethodPost, "/scgate/inbox/replay", http.StatusBadRequest, nil) // no state

	// The command through the admin API: human and JSON lists.
	out, stderr, code := gatewaytest.Run(t, cliEnv, "inbox", "list", address)
	if code != 0 || !strings.Contains(out, dead) || !strings.Contains(out, done) || !strings.Contains(out, "1 failed") {
		t.Fatalf("scgate inbox list: %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "list", "--state=failed", "--json", address)
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Stores[0].Entries) != 1 {
		t.Fatalf("scgate inbox list --json: %d %v\n%s%s", code, err, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "show", dead, address)
	if code != 0 || !strings.Contains(out, "failed") || !strings.Contains(out, "attempt 2: 500") || strings.Contains(out, "sc_e2e_1\"}") {
		t.Fatalf("scgate inbox show: %d\n%s%s", code, out, stderr)
	}

	// The dead letters of the last hour, replayed by the command, are
	// delivered with the next attempt number.
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "replay", "--state=failed", "--since=1h", address)
	if code != 0 || !strings.Contains(out, dead+" queued again") || !strings.Contains(out, "1 failed entries queued again") {
		t.Fatalf("scgate inbox replay --state failed: %d\n%s%s", code, out, stderr)
	}
	waitState(t, gw, dead, "delivered")

	// A delivered event replayed through the admin API is delivered again,
	// the same bytes, with a new attempt number.
	adminJSON(t, gw, http.MethodPost, "/scgate/inbox/"+done+"/replay", http.StatusOK, nil)
	eventually.Succeeds(t, time.Minute, func() error {
		if n := len(attemptsOf(app, done)); n != 2 {
			return fmt.Errorf("%s delivered %d times, want 2", done, n)
		}
		return nil
	})
	if got := attemptsOf(app, done); got[0] != "1" || got[1] != "2" {
		t.Errorf("attempt numbers of the replayed event: %v, want 1 then 2", got)
	}
	if got := attemptsOf(app, dead); len(got) != 3 || got[2] != "3" {
		t.Errorf("attempts of the replayed dead letter: %v, want 1, 2, 3", got)
	}

	waitState(t, gw, done, "delivered") // the application has it before the inbox records its answer
	metrics := scrape(t, gw)
	for _, want := range []string{
		`scgate_inbox_entries{endpoint="default",state="delivered"} 2`,
		`scgate_inbox_oldest_pending_age_seconds{endpoint="default"} 0`,
		`scgate_inbox_attempts_total{endpoint="default",kind="5xx",outcome="failed"} 1`,
		`scgate_webhook_requests_total{endpoint="default",mode="enforce",outcome="queued"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Once the gateway stopped, the command reads the file itself, and a
	// replay is delivered by the next gateway on the file.
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "list", "--store="+store, "--json", address)
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || list.Stores[0].Counts["delivered"] != 2 {
		t.Fatalf("scgate inbox list on the file: %d %v\n%s%s", code, err, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "replay", dead, "--store="+store)
	if code != 0 || !strings.Contains(out, dead+" queued again") {
		t.Fatalf("scgate inbox replay on the file: %d\n%s%s", code, out, stderr)
	}
	gw = startInbox(t, opts)
	waitState(t, gw, dead, "delivered")
	if got := attemptsOf(app, dead); len(got) != 4 || got[3] != "4" {
		t.Errorf("attempts of the dead letter replayed on the file: %v, want 1 to 4", got)
	}
}

// attemptsOf returns the X-Scgate-Delivery-Attempt of every request app
// received for entry id, in order.
func attemptsOf(app *gatewaytest.Upstream, id string) []string {
	var out []string
	for _, r := range app.Requests() {
		if r.Header.Get("X-Scgate-Delivery-Id") == id {
			out = append(out, r.Header.Get("X-Scgate-Delivery-Attempt"))
		}
	}
	return out
}

// scrape returns the gateway's metrics.
func scrape(t *testing.T, gw *gatewaytest.Gateway) string {
	t.Helper()
	resp, err := http.Get(gw.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
