package screenshotcenterdashboard_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/caddymodule/screenshotcenterdashboard"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/internal/eventually"
)

// The event log page in a real browser, under a path prefix: the overview
// counts the last hour's requests by endpoint and outcome and the
// rejections by reason, the filter form narrows the log, and an entry
// links to its delivery. (The dashboard is served without Caddy here
// because the receiver's recording into a registered log is not wired
// yet; the gateway test covers the Caddy side.)
func TestEventLogFiltersInABrowser(t *testing.T) {
	log := eventlog.New(100)
	now := time.Now()
	for i, e := range []eventlog.Entry{
		{Endpoint: "default", Outcome: "forwarded", Event: "screenshot.finished", ScreenshotID: "sc_1", Status: 200, UpstreamStatus: 200, UpstreamLatency: 3 * time.Millisecond, RemoteAddr: "203.0.113.7:4242"},
		{Endpoint: "default", Outcome: "rejected", Reason: "bad_signature", Status: 401, RemoteAddr: "198.51.100.9:5151"},
		{Endpoint: "default", Outcome: "duplicate", Event: "screenshot.finished", ScreenshotID: "sc_1", Status: 200, RemoteAddr: "203.0.113.7:4243"},
		{Endpoint: "batches", Outcome: "rejected", Reason: "stale", Event: "batch.finished", BatchID: "b_7", Status: 400, RemoteAddr: "203.0.113.8:4000"},
		{Endpoint: "batches", Outcome: "forwarded", Event: "batch.finished", BatchID: "b_8", Status: 202, DeliveryID: "01a25394-8387-7d86-9a86-bb647233ba84", RemoteAddr: "203.0.113.8:4001"},
	} {
		e.Time = now.Add(time.Duration(i-10) * time.Second)
		log.Record(e)
	}
	defer registry.AddEventLog("webhook", log)()
	h, err := screenshotcenterdashboard.NewHTTPHandler(false)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/scgate", h)) // as handle_path /scgate/* does
	defer srv.Close()
	dash := srv.URL + "/scgate/"
	ctx := browser(t)

	do(t, ctx, chromedp.Navigate(dash), visible("#requests"))
	if got := text(t, ctx, "#requests tbody"); !strings.Contains(got, "batches") || !strings.Contains(got, "default") {
		t.Fatalf("requests table %q lacks an endpoint", got)
	}
	if got := text(t, ctx, "#reasons tbody"); !strings.Contains(got, "bad_signature") || !strings.Contains(got, "stale") {
		t.Fatalf("reasons table %q lacks a reason", got)
	}
	screenshot(t, ctx, "dashboard-overview-requests")

	do(t, ctx, click("#nav-events"), visible("#events"))
	if n := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#events tbody tr").length`)); n != 5 {
		t.Fatalf("the event log shows %d entries, want 5", n)
	}
	screenshot(t, ctx, "dashboard-events")
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`input[name=outcome]`), "rejected"), click("#filter"))
	eventually.Succeeds(t, waitTimeout, func() error {
		if u := location(t, ctx); !strings.HasPrefix(u, dash+"events?") || !strings.Contains(u, "outcome=rejected") {
			return fmt.Errorf("the browser is at %s, not the filtered log", u)
		}
		return nil
	})
	do(t, ctx, visible("#events"))
	rows := value(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#events tbody tr")].map(r => r.className)`))
	if len(rows) != 2 || rows[0] != "outcome-rejected" || rows[1] != "outcome-rejected" {
		t.Fatalf("filtered rows %v, want the two rejected ones", rows)
	}
	do(t, ctx, chromedp.Navigate(dash+"events?id=b_8"), visible("a.delivery"))
	if href := value(t, ctx, chromedp.Evaluate[string](`document.querySelector("a.delivery").href`)); href != dash+"deliveries/01a25394-8387-7d86-9a86-bb647233ba84" {
		t.Fatalf("the delivery link is %s", href)
	}
	do(t, ctx, chromedp.Navigate(dash+"events?since=yesterday"), visible("#error"))
	if got := text(t, ctx, "#error"); !strings.Contains(got, "400") {
		t.Fatalf("a bad since filter got %q, want a 400", got)
	}
}
