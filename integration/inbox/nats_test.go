package inbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/natstest"
)

// natsConfig is a Caddyfile whose one site queues events in the JetStream
// inbox at natsURL (its streams named stream) delivering to dest, with the
// handler subdirectives handler and the inbox subdirectives extra.
func natsConfig(natsURL, stream, dest string, handler, extra []string) string {
	return siteConfig("backend nats "+natsURL+" {\n\t\t\t\tstream "+stream+"\n\t\t\t}", dest, handler, extra)
}

// The admin routes, `scgate inbox`, the metrics and the event log with
// backend nats, through the binary: a dead letter is listed, shown and
// replayed (by the command, by state and range); a delivered entry
// replayed through the admin API is delivered again with the next attempt
// number; the store is named by its server and stream, without the
// credentials of its URL.
func TestNATSInboxAdminAndCommand(t *testing.T) {
	srv := natstest.Start(t)
	app := gatewaytest.NewUpstream(t)
	app.FailFirst(2, http.StatusInternalServerError) // the first event's two attempts
	withUser := strings.Replace(srv.URL(), "nats://", "nats://scgate:not-a-password@", 1)
	gw := startInbox(t, gatewaytest.Options{Config: natsConfig(withUser, "ADMIN_TEST", app.URL, nil, []string{"attempts 2", "backoff 10ms"})})
	cliEnv := []string{"XDG_DATA_HOME=" + t.TempDir()} // no default bolt file: the command asks the gateway
	address := "--address=" + strings.TrimPrefix(gw.AdminURL, "http://")
	store := srv.URL() + "/ADMIN_TEST"

	dead := mustQueue(t, gw, event(1))
	e := waitState(t, gw, dead, "failed")
	if len(e.Log) != 2 || e.BodyBytes != len(event(1)) || e.DedupeKey == "" {
		t.Fatalf("dead letter %+v: want 2 attempts logged, its body size and dedupe key", e)
	}
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
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox?state=failed&store="+url.QueryEscape(store), http.StatusOK, &list)
	if len(list.Stores) != 1 || list.Stores[0].Store != store || !list.Stores[0].Open ||
		list.Stores[0].Counts["failed"] != 1 || list.Stores[0].Counts["delivered"] != 1 ||
		len(list.Stores[0].Entries) != 1 || list.Stores[0].Entries[0].ID != dead {
		t.Fatalf("failed entries listed: %+v", list)
	}
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox/no-such-id", http.StatusNotFound, nil)

	out, stderr, code := gatewaytest.Run(t, cliEnv, "inbox", "list", address)
	if code != 0 || !strings.Contains(out, dead) || !strings.Contains(out, done) || !strings.Contains(out, "1 failed") ||
		!strings.Contains(out, store) || strings.Contains(out, "not-a-password") {
		t.Fatalf("scgate inbox list: %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "list", "--store="+store, "--state=failed", "--json", address)
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Stores) != 1 || len(list.Stores[0].Entries) != 1 {
		t.Fatalf("scgate inbox list --store %s --json: %d %v\n%s%s", store, code, err, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "show", dead, address)
	if code != 0 || !strings.Contains(out, "failed") || !strings.Contains(out, "attempt 2: 500") {
		t.Fatalf("scgate inbox show: %d\n%s%s", code, out, stderr)
	}
	out, stderr, code = gatewaytest.Run(t, cliEnv, "inbox", "replay", "--state=failed", "--since=1h", address)
	if code != 0 || !strings.Contains(out, dead+" queued again") {
		t.Fatalf("scgate inbox replay --state failed: %d\n%s%s", code, out, stderr)
	}
	waitState(t, gw, dead, "delivered")

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

	waitState(t, gw, done, "delivered")
	metrics := scrape(t, gw)
	for _, want := range []string{
		`scgate_inbox_entries{endpoint="default",state="delivered"} 2`,
		`scgate_inbox_entries{endpoint="default",state="pending"} 0`,
		`scgate_inbox_oldest_pending_age_seconds{endpoint="default"} 0`,
		`scgate_inbox_attempts_total{endpoint="default",kind="5xx",outcome="failed"} 1`,
		`scgate_webhook_requests_total{endpoint="default",mode="enforce",outcome="queued"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	var evs struct {
		Events []struct {
			Outcome    string `json:"outcome"`
			DeliveryID string `json:"delivery_id"`
		}
	}
	adminJSON(t, gw, http.MethodGet, "/scgate/events?outcome=queued", http.StatusOK, &evs)
	ids := map[string]bool{}
	for _, e := range evs.Events {
		ids[e.DeliveryID] = true
	}
	if len(evs.Events) != 2 || !ids[dead] || !ids[done] {
		t.Errorf("event log of queued events: %+v, want %s and %s", evs.Events, dead, done)
	}
	if out := gw.Output(); strings.Contains(out, "not-a-password") {
		t.Errorf("the gateway logged the URL's password")
	}
}

// examples/compose/Caddyfile.inbox, the gateways' config of the shared
// inbox compose example, runs in the built binary (its fixed ports
// replaced) against a real nats-server: an event is answered 202 and
// delivered to the application named by UPSTREAM.
func TestComposeSharedInboxExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "compose", "Caddyfile.inbox"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(raw)
	for _, r := range [][2]string{{"admin localhost:2019", "admin {{ADMIN_ADDR}}"}, {"\n:8080 {", "\n:{{HTTP_PORT}} {"},
		{"\n:9180 {", fmt.Sprintf("\n:%d {", gatewaytest.FreePort(t))}} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("Caddyfile.inbox no longer contains %q; update this test", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	srv := natstest.Start(t)
	app := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: cfg,
		Env: []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + secret, "NATS_URL=" + srv.URL(), "UPSTREAM=" + app.Addr}})
	id := mustQueue(t, gw, event(1))
	waitState(t, gw, id, "delivered")
	if got := app.Requests(); len(got) != 1 || string(got[0].Body) != string(event(1)) || got[0].RequestURI != "/webhooks/screenshot" {
		t.Fatalf("delivered %+v, want event 1 at /webhooks/screenshot", got)
	}
}
