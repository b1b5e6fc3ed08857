package screenshotcenterdashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/natstest"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// inboxConfig is a receiver in inbox mode delivering to dest (one attempt,
// so an event the application refuses is a dead letter at once) from the
// inbox that backend names (a store line, a backend nats block), with the
// dashboard under /scgate/.
func inboxConfig(dest, backend string) string { return inboxConfigWith(dest, backend, "attempts 1") }

// inboxConfigWith is inboxConfig with the inbox subdirectives schedule.
func inboxConfigWith(dest, backend, schedule string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	handle_path /scgate/* {
		screenshotcenter_dashboard
	}
	handle /webhooks/* {
		screenshotcenter_webhook {
			secret {env.SC_SECRET}
			inbox {
				deliver_to ` + dest + `/app
				` + backend + `
				` + schedule + `
			}
		}
	}
}`
}

// An inbox's dead letter replayed from the dashboard in a real browser:
// the event, queued while the application refuses it, fails; the operator
// finds it in the event log (its queued request links to its delivery)
// and in the inbox's list, opens it, presses Replay and sees it
// delivered. The application gets the same bytes with the original
// signature, the same delivery id and the next attempt number; no page
// shows the body or the signature.
func TestDashboardReplaysAnInboxDeadLetterInABrowser(t *testing.T) {
	store := filepath.Join(t.TempDir(), "inbox.db")
	replaysADeadLetter(t, "store "+store, store)
}

// The same with the inbox on NATS JetStream: the dashboard lists the
// inbox under the name the admin API gives it, nats://host:port/STREAM,
// without the user info of its URL, and replays its dead letter from the
// stream to delivery.
func TestDashboardReplaysANATSInboxDeadLetterInABrowser(t *testing.T) {
	srv := natstest.Start(t)
	const password = "nats-url-password" // the server has no auth: it takes any
	backend := "backend nats nats://scgate:" + password + "@" + srv.Addr() + " {\n\t\t\t\t\tstream DASH_INBOX\n\t\t\t\t}"
	replaysADeadLetter(t, backend, srv.URL()+"/DASH_INBOX", password)
}

// replaysADeadLetter runs the dead letter's replay against the inbox that
// backend configures, listed on the dashboard as store; no page shows
// the secret, the body, the signature, nor any of leaks.
func replaysADeadLetter(t *testing.T, backend, store string, leaks ...string) {
	ctx := browser(t)
	app := gatewaytest.NewUpstream(t)
	app.FailFirst(1, http.StatusServiceUnavailable)
	const secret = "dashboard-inbox-secret"
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: inboxConfig(app.URL, backend), Env: []string{"SC_SECRET=" + secret}})
	dash := gw.URL + "/scgate/"

	body := `{"event":"screenshot.finished","screenshot_id":"sc_inbox_dash","created_at":"2026-02-22T14:30:00Z"}`
	signature := verifier.Sign([]byte(secret), []byte(body))
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/webhooks/screenshot", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, "screenshot.finished")
	req.Header.Set(webhook.HeaderSignature, signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var queued struct{ Outcome, Delivery string }
	json.NewDecoder(resp.Body).Decode(&queued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || queued.Outcome != "queued" || queued.Delivery == "" {
		t.Fatalf("POST = %d %+v, want 202 queued with a delivery id", resp.StatusCode, queued)
	}
	id := queued.Delivery
	eventually.Succeeds(t, waitTimeout, func() error {
		if code, page := get(t, dash+"deliveries/"+id); code != http.StatusOK || !strings.Contains(page, `id="state" class="state-failed"`) {
			return fmt.Errorf("entry page %d, not failed yet", code)
		}
		return nil
	})

	noLeak := func(page string) {
		t.Helper()
		html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		for _, leak := range append([]string{secret, signature, "sc_inbox_dash", webhook.HeaderSignature}, leaks...) {
			if strings.Contains(html, leak) {
				t.Errorf("the %s shows %q (a secret, the body or the signature)", page, leak)
			}
		}
	}

	// The overview counts the dead letter.
	do(t, ctx, chromedp.Navigate(dash), visible("#stores"))
	if got := text(t, ctx, "#dead-letters"); got != "1" {
		t.Fatalf("dead letters = %q, want 1", got)
	}
	noLeak("overview")
	// The event log's queued request links to the entry.
	do(t, ctx, chromedp.Navigate(dash+"events?id="+id), visible("a.delivery"))
	do(t, ctx, click("a.delivery"), visible("#attempts"))
	if u := location(t, ctx); u != dash+"deliveries/"+id {
		t.Fatalf("the event log's delivery link led to %s, want %sdeliveries/%s", u, dash, id)
	}
	// The inbox's failed entries list it; its link opens it.
	do(t, ctx, chromedp.Navigate(dash+"deliveries?state=failed&store="+url.QueryEscape(store)), visible("table.deliveries"))
	if got := text(t, ctx, "section.store h2"); got != "inbox "+store {
		t.Fatalf("the store's heading is %q, want the inbox %s", got, store)
	}
	if got := text(t, ctx, "table.deliveries tbody"); !strings.Contains(got, id) || !strings.Contains(got, "503") {
		t.Fatalf("the failed entries %q lack %s and its 503", got, id)
	}
	noLeak("list of failed entries")
	do(t, ctx, click("a.delivery"), visible("#attempts"))
	if got := text(t, ctx, "#state"); got != "failed" {
		t.Fatalf("state = %q, want failed", got)
	}
	noLeak("entry's page")

	// Replay, and see it delivered.
	do(t, ctx, click("#replay"), visible("#done"))
	eventually.Succeeds(t, waitTimeout, func() error {
		do(t, ctx, chromedp.Reload(), visible("#state"))
		if got := text(t, ctx, "#state"); got != "delivered" {
			return fmt.Errorf("state %q, want delivered", got)
		}
		return nil
	})
	got := app.Requests()
	if len(got) != 2 {
		t.Fatalf("the application got %d requests, want 2 (the refused one and the replay)", len(got))
	}
	last := got[1]
	if string(last.Body) != body || last.Header.Get(webhook.HeaderSignature) != signature ||
		last.Header.Get("X-Scgate-Delivery-Id") != id || last.Header.Get("X-Scgate-Delivery-Attempt") != "2" {
		t.Errorf("the replay reached the application as %q, signature %q, id %q, attempt %q; want the same bytes and signature, id %s, attempt 2",
			last.Body, last.Header.Get(webhook.HeaderSignature), last.Header.Get("X-Scgate-Delivery-Id"), last.Header.Get("X-Scgate-Delivery-Attempt"), id)
	}
	if rows := text(t, ctx, "#attempts tbody"); !strings.Contains(rows, "503") || !strings.Contains(rows, "200") {
		t.Errorf("the attempt log %q lacks the 503 and the delivery", rows)
	}
}

// After an outage of the application, a pending inbox entry waiting 6
// hours for its retry is delivered from the dashboard in a real browser:
// its page offers Deliver now (not Replay), the operator presses it and
// sees it delivered, the same entry at attempt 2, not a copy.
func TestDashboardDeliversAPendingInboxEntryNow(t *testing.T) {
	ctx := browser(t)
	app := gatewaytest.NewUpstream(t)
	app.FailFirst(1, http.StatusServiceUnavailable)
	store := filepath.Join(t.TempDir(), "inbox.db")
	const secret = "dashboard-inbox-secret"
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: inboxConfigWith(app.URL, "store "+store, "attempts 5\n\t\t\t\tbackoff 6h"), Env: []string{"SC_SECRET=" + secret}})
	dash := gw.URL + "/scgate/"

	body := `{"event":"screenshot.finished","screenshot_id":"sc_inbox_now","created_at":"2026-02-22T14:30:00Z"}`
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/webhooks/screenshot", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, "screenshot.finished")
	req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var queued struct{ Outcome, Delivery string }
	json.NewDecoder(resp.Body).Decode(&queued)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || queued.Delivery == "" {
		t.Fatalf("POST = %d %+v, want 202 queued with a delivery id", resp.StatusCode, queued)
	}
	id := queued.Delivery
	// The first attempt's 503 is logged: the entry waits about 6 hours.
	eventually.Succeeds(t, waitTimeout, func() error {
		if code, page := get(t, dash+"deliveries/"+id); code != http.StatusOK || !strings.Contains(page, `class="outcome-retry"`) {
			return fmt.Errorf("entry page %d, no retry logged yet", code)
		}
		return nil
	})

	do(t, ctx, chromedp.Navigate(dash+"deliveries/"+id), visible("#deliver-now"))
	if got := text(t, ctx, "#state"); got != "pending" {
		t.Fatalf("state = %q, want pending", got)
	}
	if n := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#replay, #retry").length`)); n != 0 {
		t.Fatalf("a pending entry's page offers %d Replay or Retry buttons, want none", n)
	}
	do(t, ctx, click("#deliver-now"), visible("#done"))
	if got := text(t, ctx, "#done"); !strings.HasPrefix(got, "Due now") {
		t.Errorf("notice %q, want Due now", got)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		do(t, ctx, chromedp.Reload(), visible("#state"))
		if got := text(t, ctx, "#state"); got != "delivered" {
			return fmt.Errorf("state %q, want delivered", got)
		}
		return nil
	})
	got := app.Requests()
	if len(got) != 2 || got[1].Header.Get("X-Scgate-Delivery-Id") != id || got[1].Header.Get("X-Scgate-Delivery-Attempt") != "2" {
		t.Fatalf("the application got %d requests, want 2: the refused one, then %s at attempt 2", len(got), id)
	}
}
