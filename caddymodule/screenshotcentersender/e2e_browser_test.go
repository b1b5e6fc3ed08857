package screenshotcentersender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// attackPage posts an event to the sidecar (TARGET) in every way a page can
// without the sidecar's consent, then reports what the browser said to its
// own server at /done. The form is the classic trick for a JSON body
// without a preflight: enctype text/plain sends name=value, and the name
// and value are chosen so that the result is valid JSON.
const attackPage = `<!doctype html>
<html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" action="TARGET" method="POST" enctype="text/plain" target="sink">
<input name='{"event":"screenshot.finished","screenshot_id":"sc_browser_form","x":"' value='"}'>
</form>
<script>
const target = "TARGET";
const body = id => JSON.stringify({event: "screenshot.finished", screenshot_id: id, created_at: "2026-02-22T14:30:00Z"});
async function attempt(name, fn) {
  try { results[name] = String(await fn()); } catch (e) { results[name] = "error: " + e; }
}
const results = {};
async function run() {
  await attempt("fetch no-cors, no content type", () => fetch(target, {method: "POST", mode: "no-cors", body: new Blob([body("sc_browser_blob")])}).then(r => r.type));
  await attempt("fetch no-cors, text/plain", () => fetch(target, {method: "POST", mode: "no-cors", body: body("sc_browser_text")}).then(r => r.type));
  await attempt("fetch cors, application/json", () => fetch(target, {method: "POST", headers: {"Content-Type": "application/json"}, body: body("sc_browser_json")}).then(r => r.status));
  await attempt("sendBeacon, string", () => navigator.sendBeacon(target, body("sc_browser_beacon")));
  await attempt("sendBeacon, application/json blob", () => navigator.sendBeacon(target, new Blob([body("sc_browser_beacon_json")], {type: "application/json"})));
  await attempt("form, text/plain", () => { document.getElementById("f").submit(); return "submitted"; });
  await new Promise(r => setTimeout(r, 1000)); // beacons and the form go out asynchronously
  await fetch("/done", {method: "POST", body: JSON.stringify(results)});
}
run();
</script>
</body></html>`

// A real browser (headless Chromium) on a page served from another port of
// 127.0.0.1 (the same site as the sidecar, to a browser) cannot make the
// sidecar sign an event: every request that reaches it is refused (403 or
// 415, seen in the access log) and nothing is delivered.
func TestBrowserPageCannotPostToSidecar(t *testing.T) {
	browser := chromium(t)
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	cfg := strings.Replace(sidecarConfig(up.URL, up.URL, store, ""), "http://127.0.0.1:{{HTTP_PORT}} {",
		"http://127.0.0.1:{{HTTP_PORT}} {\n\tlog", 1)
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: cfg,
		Env:    []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2},
	})

	var mu sync.Mutex
	var report map[string]string
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/done" {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			json.Unmarshal(b, &report)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, strings.ReplaceAll(attackPage, "TARGET", gw.URL+"/"))
	}))
	defer page.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--no-first-run", "--user-data-dir="+t.TempDir(), page.URL+"/")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	eventually.Succeeds(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if report == nil {
			return errors.New("the page has not reported yet")
		}
		return nil
	})
	t.Logf("what the browser said: %v", report)

	// Every request that reached the sidecar was refused.
	var refused, accepted int
	eventually.Succeeds(t, 10*time.Second, func() error {
		refused, accepted = 0, 0
		for _, line := range strings.Split(gw.Output(), "\n") {
			if !strings.Contains(line, `"http.log.access`) {
				continue
			}
			switch {
			case strings.Contains(line, `"status":403`), strings.Contains(line, `"status":415`):
				refused++
			case strings.Contains(line, `"status":20`):
				accepted++
			}
		}
		if refused < 3 {
			return fmt.Errorf("the access log shows %d refused requests, want at least 3 (no-cors fetches and the form)", refused)
		}
		return nil
	})
	if accepted != 0 || up.Count() != 0 {
		t.Fatalf("%d requests accepted, %d delivered to the upstream; want none", accepted, up.Count())
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if out, code := scgate(t, nil, "deliveries", "list", "--store", store); code != 0 || strings.Contains(out, "screenshot.finished") {
		t.Fatalf("the outbox holds deliveries (%d):\n%s", code, out)
	}
}

// chromium returns the path of a Chromium binary. A missing browser fails
// the test (saying how to install it): a browser test that does not run
// must not pass.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH (apt-get install -y chromium)")
	return ""
}
