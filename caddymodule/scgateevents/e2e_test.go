package scgateevents_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/caddymodule/scgateevents"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

// The secrets of the test: the gateway's, and another one whose
// signatures it refuses. Neither may appear in anything the event log
// shows, nor may the signatures or the bodies.
const (
	gatewaySecret = "events-e2e-secret-3f9a1c"
	otherSecret   = "events-e2e-other-secret-77d2"
	bodyMarker    = "body_marker_never_logged"
)

// eventsConfig is a gateway with the webhook in front of up, with extra
// options.
func eventsConfig(up, extra string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret {env.EVENTS_SECRET}
		name hooks
		` + extra + `
	}
	reverse_proxy ` + up + `
}`
}

func startGateway(t *testing.T, extra string) (*gatewaytest.Gateway, *gatewaytest.Upstream) {
	t.Helper()
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: eventsConfig(up.Addr, extra),
		Env:    []string{"EVENTS_SECRET=" + gatewaySecret},
	})
	return gw, up
}

// send posts an event signed with secret (or with the given signature
// when sig is not empty) and returns the status.
func send(t *testing.T, gw *gatewaytest.Gateway, secret, sig, event, id string) (int, string) {
	t.Helper()
	return sendTo(t, gw.URL, secret, sig, event, id)
}

// sendTo is send to the site at base.
func sendTo(t *testing.T, base, secret, sig, event, id string) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"event":%q,"screenshot_id":%q,"note":%q}`, event, id, bodyMarker)
	if sig == "" {
		sig = verifier.Sign([]byte(secret), []byte(body))
	}
	req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ScreenshotCenter-Event", event)
	req.Header.Set("X-ScreenshotCenter-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, sig
}

// events asks the admin route with the query q.
func events(t *testing.T, gw *gatewaytest.Gateway, q string) (int, string, scgateevents.Answer) {
	t.Helper()
	resp, err := http.Get(gw.AdminURL + "/scgate/events?" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var ans scgateevents.Answer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &ans); err != nil {
			t.Fatalf("GET /scgate/events?%s: %v\n%s", q, err, b)
		}
	}
	return resp.StatusCode, string(b), ans
}

func summary(es []eventlog.Entry) string {
	var parts []string
	for _, e := range es {
		s := e.Outcome
		if e.Reason != "" {
			s += "/" + e.Reason
		}
		if e.ScreenshotID != "" {
			s += ":" + e.ScreenshotID
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// noSecrets fails the test if out holds a secret, one of the signatures
// sent, or a body's content.
func noSecrets(t *testing.T, what, out string, sigs []string) {
	t.Helper()
	for _, s := range append([]string{gatewaySecret, otherSecret, bodyMarker}, sigs...) {
		if strings.Contains(out, s) {
			t.Errorf("%s shows %q:\n%s", what, s, out)
		}
	}
	for _, s := range sigs {
		if hex := strings.TrimPrefix(s, "sha256="); strings.Contains(out, hex) {
			t.Errorf("%s shows the signature %q:\n%s", what, hex, out)
		}
	}
}

// Accepted, duplicate and rejected events show in GET /scgate/events and
// `scgate events`, with the right outcome and reason filters, and nothing
// secret, no signature and no body in any of it.
func TestEventsThroughTheAdminAPIAndTheCommand(t *testing.T) {
	gw, up := startGateway(t, "")
	var sigs []string
	expect := func(want int, secret, sig, event, id string) {
		t.Helper()
		code, used := send(t, gw, secret, sig, event, id)
		if code != want {
			t.Fatalf("%s %s: %d, want %d", event, id, code, want)
		}
		sigs = append(sigs, used)
	}
	expect(http.StatusOK, gatewaySecret, "", "screenshot.finished", "sc_e2e_1")         // forwarded
	expect(http.StatusOK, gatewaySecret, "", "screenshot.finished", "sc_e2e_1")         // duplicate
	expect(http.StatusUnauthorized, otherSecret, "", "screenshot.finished", "sc_e2e_2") // signature_mismatch
	expect(http.StatusUnauthorized, "", "sha256="+strings.Repeat("ab", 32), "screenshot.finished", "sc_e2e_3")
	expect(http.StatusOK, gatewaySecret, "", "batch.finished", "sc_e2e_4") // forwarded
	if up.Count() != 2 {
		t.Fatalf("upstream got %d requests, want 2", up.Count())
	}

	code, raw, all := events(t, gw, "")
	if code != http.StatusOK {
		t.Fatalf("GET /scgate/events: %d %s", code, raw)
	}
	if got, want := summary(all.Events), "forwarded:sc_e2e_4 rejected/signature_mismatch rejected/signature_mismatch duplicate:sc_e2e_1 forwarded:sc_e2e_1"; got != want {
		t.Fatalf("events (newest first):\n got %s\nwant %s", got, want)
	}
	if all.Size != 10000 || all.Recorded != 5 {
		t.Errorf("size %d, recorded %d; want 10000 and 5", all.Size, all.Recorded)
	}
	first := all.Events[4]
	if first.Endpoint != "hooks" || first.Scheme != "screenshotcenter" || first.Status != 200 || first.UpstreamStatus != 200 ||
		first.UpstreamLatency <= 0 || !strings.HasPrefix(first.RemoteAddr, "127.0.0.1:") || first.Event != "screenshot.finished" ||
		first.DedupeKey != `"screenshot.finished" screenshot_id "sc_e2e_1"` {
		t.Errorf("the forwarded entry: %+v", first)
	}
	if dup := all.Events[3]; dup.Status != 200 || dup.UpstreamStatus != 0 || dup.UpstreamLatency != 0 {
		t.Errorf("the duplicate entry: %+v", dup)
	}
	noSecrets(t, "GET /scgate/events", raw, sigs)

	for _, c := range []struct{ q, want string }{
		{"outcome=rejected", "rejected/signature_mismatch rejected/signature_mismatch"},
		{"reason=signature_mismatch&limit=1", "rejected/signature_mismatch"},
		{"outcome=forwarded&event=screenshot.finished", "forwarded:sc_e2e_1"},
		{"id=sc_e2e_1", "duplicate:sc_e2e_1 forwarded:sc_e2e_1"},
		{"outcome=duplicate&since=1h", "duplicate:sc_e2e_1"},
		{"since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), ""},
		{"endpoint=other", ""},
	} {
		code, raw, ans := events(t, gw, c.q)
		if code != http.StatusOK || summary(ans.Events) != c.want {
			t.Errorf("?%s: %d %s, want %s", c.q, code, summary(ans.Events), c.want)
		}
		noSecrets(t, "?"+c.q, raw, sigs)
	}
	for _, q := range []string{"limit=-1", "limit=many", "since=yesterday", "after=x", "follow=maybe"} {
		if code, raw, _ := events(t, gw, q); code != http.StatusBadRequest || !strings.Contains(raw, "must be") {
			t.Errorf("?%s: %d %s, want 400 saying what it must be", q, code, raw)
		}
	}
	resp, err := http.Post(gw.AdminURL+"/scgate/events", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}

	addr := "--address=" + strings.TrimPrefix(gw.AdminURL, "http://")
	out, errOut, code := gatewaytest.Run(t, nil, "events", addr)
	if code != 0 {
		t.Fatalf("scgate events: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("scgate events printed %d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{"forwarded", "rejected", "rejected", "duplicate", "forwarded"} {
		if f := strings.Fields(lines[i+1]); len(f) < 5 || f[3] != "hooks" || f[4] != want {
			t.Errorf("line %d: %q, want endpoint hooks and outcome %s", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[5], "200 ") || !strings.Contains(lines[5], "sc_e2e_1") || !strings.Contains(lines[3], "signature_mismatch") {
		t.Errorf("the table misses statuses, ids or reasons:\n%s", out)
	}
	noSecrets(t, "scgate events", out, sigs)

	out, errOut, code = gatewaytest.Run(t, nil, "events", addr, "--reason", "signature_mismatch", "--json")
	var ans scgateevents.Answer
	if code != 0 || json.Unmarshal([]byte(out), &ans) != nil {
		t.Fatalf("scgate events --json: exit %d: %s%s", code, out, errOut)
	}
	if summary(ans.Events) != "rejected/signature_mismatch rejected/signature_mismatch" {
		t.Errorf("--reason signature_mismatch --json: %s", summary(ans.Events))
	}
	noSecrets(t, "scgate events --json", out, sigs)

	out, _, _ = gatewaytest.Run(t, nil, "events", addr, "--outcome", "in_flight")
	if !strings.Contains(out, "# no matching entries (the log holds the last 10000 of 5 answered requests)") {
		t.Errorf("no match: %s", out)
	}
	_, errOut, code = gatewaytest.Run(t, nil, "events", addr, "--since", "soon")
	if code != 1 || !strings.Contains(errOut, "since must be") {
		t.Errorf("--since soon: exit %d: %s", code, errOut)
	}
	_, errOut, code = gatewaytest.Run(t, nil, "events", "--address=127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "scgate events: admin API at 127.0.0.1:1") {
		t.Errorf("no gateway: exit %d: %s", code, errOut)
	}
}

// follow starts `scgate events --follow` on gw with args.
func follow(t *testing.T, gw *gatewaytest.Gateway, args ...string) *gatewaytest.Process {
	t.Helper()
	args = append([]string{"events", "--follow", "--address=" + strings.TrimPrefix(gw.AdminURL, "http://")}, args...)
	return gatewaytest.Spawn(t, nil, args...)
}

// waitFor waits until p has printed a line holding every one of subs.
func waitFor(t *testing.T, p *gatewaytest.Process, subs ...string) {
	t.Helper()
	eventually.Succeeds(t, 20*time.Second, func() error {
	lines:
		for _, line := range strings.Split(p.Output(), "\n") {
			for _, s := range subs {
				if !strings.Contains(line, s) {
					continue lines
				}
			}
			return nil
		}
		return fmt.Errorf("no line with %q in:\n%s", subs, p.Output())
	})
}

// --follow prints the backlog, then each new event as it is answered,
// only those its filters select, across a reload (which replaces the
// admin endpoint) too, and nothing secret; SIGINT ends it with status 0.
func TestFollowPrintsNewEvents(t *testing.T) {
	gw, _ := startGateway(t, "")
	var sigs []string
	_, sig := send(t, gw, gatewaySecret, "", "screenshot.finished", "sc_f_1")
	sigs = append(sigs, sig)
	f := follow(t, gw, "--outcome", "forwarded")
	waitFor(t, f, "forwarded", "sc_f_1")

	_, sig = send(t, gw, otherSecret, "", "screenshot.finished", "sc_f_2") // rejected: not followed
	sigs = append(sigs, sig)
	_, sig = send(t, gw, gatewaySecret, "", "screenshot.finished", "sc_f_3")
	sigs = append(sigs, sig)
	waitFor(t, f, "forwarded", "sc_f_3")

	// A reload keeps the log and replaces the admin endpoint: the
	// follower reconnects after the last entry it printed. The new config
	// serves on a new port (a reload to the same one may reset the
	// connections the old socket had queued).
	stopped := strings.Count(gw.Output(), "stopped previous server")
	up := gatewaytest.NewUpstream(t)
	port := strconv.Itoa(gatewaytest.FreePort(t))
	if err := gw.Reload(strings.Replace(eventsConfig(up.Addr, "event_log 500"), gatewaytest.VarHTTPPort, port, 1)); err != nil {
		t.Fatal(err)
	}
	_, sig = sendTo(t, "http://127.0.0.1:"+port, gatewaySecret, "", "screenshot.finished", "sc_f_4")
	sigs = append(sigs, sig)
	waitFor(t, f, "forwarded", "sc_f_4")
	// The stream ended with the old config, so the old admin endpoint
	// could stop (it waits for open requests, up to 10s, then logs an
	// error instead).
	eventually.Succeeds(t, 15*time.Second, func() error {
		if strings.Count(gw.Output(), "stopped previous server") == stopped {
			return errors.New("the old admin endpoint has not stopped: a follow stream holds it")
		}
		return nil
	})
	if err := f.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(20 * time.Second); err != nil {
		t.Errorf("--follow did not end with status 0 on SIGINT: %v\n%s", err, f.Output())
	}
	out := f.Output()
	for _, id := range []string{"sc_f_1", "sc_f_3", "sc_f_4"} {
		if n := strings.Count(out, id); n != 1 {
			t.Errorf("%s printed %d times:\n%s", id, n, out)
		}
	}
	if strings.Contains(out, "sc_f_2") || strings.Contains(out, "rejected") {
		t.Errorf("--outcome forwarded printed a rejection:\n%s", out)
	}
	noSecrets(t, "scgate events --follow", out, sigs)

	_, _, ans := events(t, gw, "")
	if ans.Size != 500 || ans.Recorded != 4 {
		t.Errorf("after the reload: size %d, recorded %d; want 500 and 4", ans.Size, ans.Recorded)
	}
}

// --follow --json prints the stream's JSON lines.
func TestFollowJSON(t *testing.T) {
	gw, _ := startGateway(t, "")
	f := follow(t, gw, "--json", "--limit", "0")
	send(t, gw, gatewaySecret, "", "screenshot.finished", "sc_j_1")
	waitFor(t, f, `"screenshot_id":"sc_j_1"`)
	f.Signal(syscall.SIGINT)
	if err := f.Wait(20 * time.Second); err != nil {
		t.Errorf("--follow --json: %v", err)
	}
	line := strings.TrimSpace(f.Output())
	var e eventlog.Entry
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Outcome != "forwarded" || e.Seq != 1 {
		t.Errorf("--follow --json printed %q (%v)", line, err)
	}
}

// A handler with event_log off records nothing.
func TestEventLogOff(t *testing.T) {
	gw, _ := startGateway(t, "event_log off")
	if code, _ := send(t, gw, gatewaySecret, "", "screenshot.finished", "sc_off"); code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	if _, raw, ans := events(t, gw, ""); len(ans.Events) != 0 || ans.Recorded != 0 {
		t.Errorf("event_log off recorded: %s", raw)
	}
}

// The dashboard of the same process shows the receivers' event log (it
// finds it in the registry), with nothing secret on the page.
func TestDashboardShowsTheEventLog(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: eventsConfig(up.Addr, "") + `
http://127.0.0.1:{{HTTPS_PORT}} {
	# the dashboard, on the second free port
	handle_path /ops/* {
		screenshotcenter_dashboard
	}
}`,
		Env: []string{"EVENTS_SECRET=" + gatewaySecret},
	})
	_, sig := send(t, gw, gatewaySecret, "", "screenshot.finished", "sc_dash_1")
	_, bad := send(t, gw, otherSecret, "", "screenshot.finished", "sc_dash_2")
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(gw.HTTPSPort) + "/ops/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "sc_dash_1") || !strings.Contains(page, "signature_mismatch") {
		t.Fatalf("GET /ops/events: %d\n%s", resp.StatusCode, page)
	}
	noSecrets(t, "the dashboard's event log", page, []string{sig, bad})
}
