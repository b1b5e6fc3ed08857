package screenshotcenterwebhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/natstest"
)

// natsHandler is a handler with an inbox on the JetStream server at url,
// in a stream of its own, delivering to dest.
func natsHandler(t *testing.T, name, url, dest string) *Handler {
	t.Helper()
	stream := strings.ToUpper(strings.NewReplacer("-", "_").Replace(name))
	return &Handler{Name: name, Secrets: []string{testSecret}, Inbox: &InboxConfig{
		DeliverTo: dest, Backend: InboxBackendNATS, Backoff: []caddy.Duration{caddy.Duration(10 * time.Millisecond)},
		NATS: &InboxNATSConfig{URL: url, Stream: stream, Subject: strings.ToLower(stream)}}}
}

// A JetStream server that is down when the config starts does not fail
// it: events are answered 503 inbox_unavailable with Retry-After (nothing
// acknowledged that is not stored); once the server is back, the gateway
// opens the inbox by itself, answers 202 and delivers. When the server
// goes away again, events get 503 again, and after its restart 202 again,
// with no reload.
func TestNATSInboxDownAtStartHeals(t *testing.T) {
	defer func(d time.Duration) { inboxRetryEvery = d }(inboxRetryEvery)
	inboxRetryEvery = 50 * time.Millisecond
	srv := natstest.Start(t)
	srv.Stop()
	up := gatewaytest.NewUpstream(t)
	h := natsHandler(t, "inbox-nats-heal", srv.URL(), up.URL+"/hook")
	if err := provision(t, h); err != nil {
		t.Fatalf("a JetStream server down at start failed the config: %v", err)
	}
	send := func(i int) handled {
		return handle(t, h, signed(testSecret, fmt.Sprintf(`{"event":"screenshot.finished","screenshot_id":"sc_nats_heal_%d"}`, i)), nil)
	}
	unavailable := func(rec handled) error {
		if rec.status != http.StatusServiceUnavailable || rec.reason != "inbox_unavailable" || rec.header.Get("Retry-After") == "" {
			return fmt.Errorf("%d %s (reason %q, Retry-After %q), want 503 inbox_unavailable with Retry-After",
				rec.status, rec.answer, rec.reason, rec.header.Get("Retry-After"))
		}
		return nil
	}
	if err := unavailable(send(0)); err != nil {
		t.Fatalf("server down at start: %v", err)
	}

	srv.Restart()
	queue := func(i int) {
		t.Helper()
		eventually.Succeeds(t, 30*time.Second, func() error {
			rec := send(i)
			var ans queuedAnswer
			if err := json.Unmarshal(rec.answer, &ans); err != nil || rec.status != http.StatusAccepted || ans.Delivery == "" {
				return fmt.Errorf("event %d: %d %s, want 202 queued", i, rec.status, rec.answer)
			}
			return nil
		})
	}
	queue(0)
	waitRequests(t, up, 1)

	srv.Stop()
	eventually.Succeeds(t, 30*time.Second, func() error { return unavailable(send(1)) })
	srv.Restart()
	queue(1)
	waitRequests(t, up, 2)
}

// Two inboxes on one server that name only their streams get subjects of
// their own: JetStream refuses a stream whose subjects overlap another's,
// so with one default subject the second inbox could never open (found
// by bench/load, whose second run on one server answered only 503).
func TestNATSInboxesOfTwoStreamsOnOneServer(t *testing.T) {
	srv := natstest.Start(t)
	up := gatewaytest.NewUpstream(t)
	for _, stream := range []string{"FIRST", "SECOND"} {
		h := &Handler{Name: "inbox-" + strings.ToLower(stream), Secrets: []string{testSecret}, Inbox: &InboxConfig{
			DeliverTo: up.URL, Backend: InboxBackendNATS, NATS: &InboxNATSConfig{URL: srv.URL(), Stream: stream}}}
		if err := provision(t, h); err != nil {
			t.Fatal(err)
		}
		if h.inbox.get() == nil {
			t.Fatalf("the inbox of stream %s did not open", stream)
		}
	}
}

// A reload while the JetStream server is down does not fail: the new
// settings wait, and apply once the server is back (here: the new
// destination gets the events). It failed the reload, since the engine
// updates its streams and consumer on the server.
func TestNATSInboxReloadWhileTheServerIsDown(t *testing.T) {
	defer func(d time.Duration) { inboxRetryEvery = d }(inboxRetryEvery)
	inboxRetryEvery = 50 * time.Millisecond
	srv := natstest.Start(t)
	before, after := gatewaytest.NewUpstream(t), gatewaytest.NewUpstream(t)
	before.Respond(func(int, gatewaytest.Request) int { return http.StatusInternalServerError })
	if err := provision(t, natsHandler(t, "inbox-nats-reload", srv.URL(), before.URL)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	h := natsHandler(t, "inbox-nats-reload", srv.URL(), after.URL) // the same inbox, another destination
	if err := provision(t, h); err != nil {
		t.Fatalf("a reload while the server is down failed: %v", err)
	}
	srv.Restart()
	eventually.Succeeds(t, 30*time.Second, func() error {
		if rec := handle(t, h, signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"sc_nats_reload"}`), nil); rec.status != http.StatusAccepted && rec.status != http.StatusOK {
			return fmt.Errorf("%d %s, want 202 queued", rec.status, rec.answer)
		}
		return nil
	})
	waitRequests(t, after, 1)
}
