package screenshotcenterdashboard_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

const waitTimeout = 30 * time.Second

// config is a sender sidecar on the HTTP port with the dashboard under
// /scgate/ (handle_path), and a read-only dashboard at the root of a
// second site (the HTTPS port, served as plain HTTP).
func config(upstream, store string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	handle_path /scgate/* {
		screenshotcenter_dashboard
	}
	handle {
		screenshotcenter_sender {
			endpoint ` + upstream + `/hook?token=s3cr3t-in-query {
				secret {env.SC_SECRET}
			}
			store ` + store + `
			allow 127.0.0.0/8
			attempts 1
		}
	}
}
http://127.0.0.1:{{HTTPS_PORT}} {
	screenshotcenter_dashboard {
		read_only
	}
}`
}

// get returns the status and body of a GET.
func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postForm posts a form with the given headers and returns the status and
// body (redirects are not followed).
func postForm(t *testing.T, u string, form url.Values, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`)

// The whole path through a real gateway and a real browser: an event the
// upstream refuses ends failed; the operator sees it on the overview, opens
// it from the deliveries page (under /scgate/, so every link is relative),
// presses Retry and sees it delivered. A page of another origin cannot make
// the browser replay it, a form without the token is refused, and the
// read-only dashboard shows no buttons and refuses the actions.
func TestDashboardRetriesAFailedDeliveryInABrowser(t *testing.T) {
	ctx := browser(t)
	up := gatewaytest.NewUpstream(t)
	up.FailFirst(1, http.StatusInternalServerError)
	store := filepath.Join(t.TempDir(), "outbox.db")
	const secret = "dashboard-test-secret"
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: config(up.URL, store), Env: []string{"SC_SECRET=" + secret}})
	dash := gw.URL + "/scgate/"
	readOnly := fmt.Sprintf("http://127.0.0.1:%d/", gw.HTTPSPort)

	body := `{"event":"screenshot.finished","screenshot_id":"sc_dash1","created_at":"2026-02-22T14:30:00Z"}`
	resp, err := http.Post(gw.URL+"/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		Deliveries []struct {
			ID string `json:"id"`
		} `json:"deliveries"`
	}
	json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || len(acc.Deliveries) != 1 {
		t.Fatalf("POST = %d %+v, want 202 and one delivery", resp.StatusCode, acc)
	}
	id := acc.Deliveries[0].ID
	eventually.Succeeds(t, waitTimeout, func() error {
		if code, page := get(t, dash+"deliveries/"+id); code != http.StatusOK || !strings.Contains(page, `id="state" class="state-failed"`) {
			return fmt.Errorf("delivery page %d, not failed yet", code)
		}
		return nil
	})

	// The overview counts the dead letter.
	do(t, ctx, chromedp.Navigate(dash), visible("#stores"))
	if got := text(t, ctx, "#dead-letters"); got != "1" {
		t.Fatalf("dead letters = %q, want 1", got)
	}
	screenshot(t, ctx, "dashboard-overview")

	// Deliveries, then the failed one, by the page's own links.
	do(t, ctx, click("#nav-deliveries"), visible("table.deliveries"))
	if u := location(t, ctx); u != dash+"deliveries" {
		t.Fatalf("the Deliveries link led to %s, want %sdeliveries", u, dash)
	}
	do(t, ctx, click("a.delivery"), visible("#attempts"))
	if u := location(t, ctx); u != dash+"deliveries/"+id {
		t.Fatalf("the delivery link led to %s, want %sdeliveries/%s", u, dash, id)
	}
	if got := text(t, ctx, "#state"); got != "failed" {
		t.Fatalf("state = %q, want failed", got)
	}
	if got := text(t, ctx, "#attempts tbody"); !strings.Contains(got, "500") {
		t.Fatalf("attempt log %q does not show the 500", got)
	}
	html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	for _, leak := range []string{secret, "sc_dash1", "s3cr3t-in-query", "X-ScreenshotCenter-Signature"} {
		if strings.Contains(html, leak) {
			t.Errorf("the delivery page shows %q (a secret, the body or a signature)", leak)
		}
	}
	screenshot(t, ctx, "dashboard-delivery-failed")

	// Retry, and see it delivered.
	do(t, ctx, click("#retry"), visible("#done"))
	if u := location(t, ctx); u != dash+"deliveries/"+id+"?done=retry" {
		t.Fatalf("after Retry the browser is at %s", u)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		do(t, ctx, chromedp.Reload(), visible("#state"))
		if got := text(t, ctx, "#state"); got != "delivered" {
			return fmt.Errorf("state %q, want delivered", got)
		}
		return nil
	})
	if up.Count() != 2 {
		t.Fatalf("upstream saw %d requests, want 2 (the failed one and the retry)", up.Count())
	}
	screenshot(t, ctx, "dashboard-delivery-retried")

	// A page of another origin posts the replay form, with the right
	// token even: the browser says where it comes from, and the dashboard
	// refuses it.
	token := tokenRE.FindStringSubmatch(html)
	if token == nil {
		t.Fatal("no token in the delivery page's forms")
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="POST" action="%sdeliveries/%s/replay"><input name="token" value="%s"></form><script>document.getElementById("f").submit()</script>`,
			dash, id, token[1])
	}))
	defer evil.Close()
	do(t, ctx, chromedp.Navigate(evil.URL), visible("#error"))
	if got := text(t, ctx, "#error"); !strings.Contains(got, "403") || !strings.Contains(got, "cross_site") {
		t.Fatalf("the cross-site form got %q, want a 403 cross_site", got)
	}
	// Without browser headers, a form without the process's token is
	// refused too.
	if code, page := postForm(t, dash+"deliveries/"+id+"/replay", url.Values{"token": {"0"}}, nil); code != http.StatusForbidden || !strings.Contains(page, "bad_token") {
		t.Fatalf("a form without the token: %d, want 403 bad_token", code)
	}
	if code, _ := postForm(t, dash+"deliveries/"+id+"/replay", url.Values{"token": {token[1]}},
		map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Fatalf("a form from Origin evil.example: %d, want 403", code)
	}
	if up.Count() != 2 {
		t.Fatalf("upstream saw %d requests after the refused replays, want 2", up.Count())
	}

	// The read-only dashboard, at a site's root: its links work there,
	// it shows no action and refuses them.
	do(t, ctx, chromedp.Navigate(readOnly+"deliveries/"+id), visible("#attempts"))
	buttons := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[method=post]").length`))
	if buttons != 0 {
		t.Fatalf("the read-only dashboard shows %d action forms", buttons)
	}
	do(t, ctx, click("#nav-deliveries"), visible("table.deliveries"))
	if u := location(t, ctx); u != readOnly+"deliveries" {
		t.Fatalf("the read-only Deliveries link led to %s", u)
	}
	if code, page := postForm(t, readOnly+"deliveries/"+id+"/replay", url.Values{"token": {token[1]}}, nil); code != http.StatusForbidden || !strings.Contains(page, "read_only") {
		t.Fatalf("a replay on the read-only dashboard: %d, want 403 read_only", code)
	}
	if !gw.WaitOutput(`"reason":"cross_site"`, waitTimeout) {
		t.Error("the log has no line with the cross_site reason")
	}
}
