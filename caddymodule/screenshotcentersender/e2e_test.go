package screenshotcentersender_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

const (
	secret1 = "sidecar-secret-one"
	secret2 = "sidecar-secret-two"
)

// scgate runs the built binary with args and returns its output and exit
// code.
func scgate(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(gatewaytest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func waitCount(t *testing.T, up *gatewaytest.Upstream, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for up.Count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("upstream saw %d requests, want %d", up.Count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func post(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func sidecarConfig(up1, up2, store string, extra string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_sender {
		endpoint ` + up1 + `/hook {
			secret {env.SC_SECRET1}
		}
		endpoint ` + up2 + `/batches {
			secret {env.SC_SECRET2}
			events batch.finished
		}
		store ` + store + `
		allow 127.0.0.0/8
		backoff 20ms
		` + extra + `
	}
}`
}

// The sidecar through real Caddy: 202 after storing, signed delivery to the
// configured endpoints with their own secret and event filter, refusals,
// then the deliveries CLI on the stopped gateway's outbox.
func TestSidecar(t *testing.T) {
	up1, up2 := gatewaytest.NewUpstream(t), gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: sidecarConfig(up1.URL, up2.URL, store, ""),
		Env:    []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2},
	})

	body := `{"event":"screenshot.finished","screenshot_id":"sc_side1","created_at":"2026-02-22T14:30:00Z", "metadata":{}}`
	code, resp := post(t, gw.URL+"/", "application/json", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s, want 202", code, resp)
	}
	var acc struct {
		Deliveries []struct {
			ID       string `json:"id"`
			Endpoint int    `json:"endpoint"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(resp), &acc); err != nil || len(acc.Deliveries) != 1 || acc.Deliveries[0].Endpoint != 0 {
		t.Fatalf("202 body %s (%v)", resp, err)
	}
	id := acc.Deliveries[0].ID
	waitCount(t, up1, 1)
	r := up1.Requests()[0]
	if string(r.Body) != body || r.RequestURI != "/hook" {
		t.Errorf("delivered %s %q, want the exact body", r.RequestURI, r.Body)
	}
	if r.Header.Get(webhook.HeaderSignature) != verifier.Sign([]byte(secret1), []byte(body)) ||
		r.Header.Get(webhook.HeaderEvent) != "screenshot.finished" || r.Header.Get(sender.HeaderDeliveryID) != id {
		t.Errorf("headers: %v", r.Header)
	}

	batch := `{"event":"batch.finished","batch_id":"b1","created_at":"2026-02-22T14:30:00Z"}`
	if code, resp := post(t, gw.URL+"/", "application/json", batch); code != http.StatusAccepted || strings.Count(resp, `"id"`) != 2 {
		t.Fatalf("batch POST = %d %s, want 202 with 2 deliveries", code, resp)
	}
	waitCount(t, up2, 1)
	if s := up2.Requests()[0].Header.Get(webhook.HeaderSignature); s != verifier.Sign([]byte(secret2), []byte(batch)) {
		t.Errorf("endpoint 2 signature %q", s)
	}

	bad := []struct {
		name, method, ct, body string
		hdr                    string
		want                   int
	}{
		{"GET", http.MethodGet, "", "", "", http.StatusMethodNotAllowed},
		{"not JSON", http.MethodPost, "application/json", "{not json", "", http.StatusBadRequest},
		{"no event", http.MethodPost, "application/json", `{"screenshot_id":"x"}`, "", http.StatusBadRequest},
		{"array", http.MethodPost, "application/json", `[1]`, "", http.StatusBadRequest},
		{"text content type", http.MethodPost, "text/plain", body, "", http.StatusUnsupportedMediaType},
		{"event header mismatch", http.MethodPost, "application/json", body, "batch.finished", http.StatusBadRequest},
		{"too large", http.MethodPost, "application/json", `{"event":"x","p":"` + strings.Repeat("a", 2<<20) + `"}`, "", http.StatusRequestEntityTooLarge},
	}
	for _, b := range bad {
		req, _ := http.NewRequest(b.method, gw.URL+"/", strings.NewReader(b.body))
		if b.ct != "" {
			req.Header.Set("Content-Type", b.ct)
		}
		if b.hdr != "" {
			req.Header.Set(webhook.HeaderEvent, b.hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != b.want {
			t.Errorf("%s: %d, want %d", b.name, resp.StatusCode, b.want)
		}
	}
	waitCount(t, up1, 2)

	// A reload keeps the same outbox open (no second lock) and still works.
	if err := gw.Reload(sidecarConfig(up1.URL, up2.URL, store, "timeout 5s")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if code, resp := post(t, gw.URL+"/", "application/json", body); code != http.StatusAccepted {
		t.Fatalf("after reload: %d %s", code, resp)
	}
	waitCount(t, up1, 3)

	if err := gw.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	out, code := scgate(t, nil, "deliveries", "list", "--store", store)
	if code != 0 || strings.Count(out, "delivered") != 4 || strings.Contains(out, secret1) {
		t.Fatalf("deliveries list (%d):\n%s", code, out)
	}
	out, code = scgate(t, nil, "deliveries", "show", id, "--store", store)
	if code != 0 || !strings.Contains(out, `"state": "delivered"`) || strings.Contains(out, secret1) || strings.Contains(out, "sc_side1") {
		t.Fatalf("deliveries show (%d):\n%s", code, out)
	}
	if out, code = scgate(t, nil, "deliveries", "show", "nope", "--store", store); code == 0 {
		t.Fatalf("show unknown id succeeded:\n%s", out)
	}
}

// A delivery that exhausts its attempts is failed; retried by hand with the
// CLI, it is delivered when the sidecar starts again on the same outbox.
func TestSidecarManualRetryAfterRestart(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.Respond(func(int, gatewaytest.Request) int { return http.StatusInternalServerError })
	store := filepath.Join(t.TempDir(), "outbox.db")
	opts := gatewaytest.Options{
		Config: sidecarConfig(up.URL, up.URL, store, "attempts 2"),
		Env:    []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2},
	}
	gw := gatewaytest.Start(t, opts)
	body := `{"event":"screenshot.failed","screenshot_id":"sc_r1","error":"x"}`
	code, resp := post(t, gw.URL+"/", "application/json", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	waitCount(t, up, 2)
	// While it runs, the CLI cannot open the locked outbox; with no admin
	// API at --address either, it says so.
	noAdmin := fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(t))
	if out, code := scgate(t, nil, "deliveries", "list", "--store", store, "--address", noAdmin); code == 0 || !strings.Contains(out, "locked") {
		t.Fatalf("list on a running store (%d):\n%s", code, out)
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	out, code := scgate(t, nil, "deliveries", "list", "--state", "failed", "--store", store)
	if code != 0 || strings.Count(out, " failed ") != 1 {
		t.Fatalf("list failed (%d):\n%s", code, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, code := scgate(t, nil, "deliveries", "retry", id, "--store", store); code != 0 {
		t.Fatalf("retry (%d):\n%s", code, out)
	}
	up.Respond(nil)
	opts.HTTPPort, opts.AdminPort = 0, 0
	gw = gatewaytest.Start(t, opts)
	waitCount(t, up, 3)
	reqs := up.Requests()
	for _, r := range reqs {
		if string(r.Body) != body || r.Header.Get(sender.HeaderDeliveryID) != id {
			t.Errorf("attempt carried %q id %s", r.Body, r.Header.Get(sender.HeaderDeliveryID))
		}
	}
	if a := reqs[2].Header.Get(sender.HeaderAttempt); a != "1" {
		t.Errorf("attempt after manual retry = %s, want 1 (fresh budget)", a)
	}
	gw.Stop()
	if out, code := scgate(t, nil, "deliveries", "list", "--state", "delivered", "--store", store); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("after restart (%d):\n%s", code, out)
	}
}

// A config error is reported, never an open sidecar.
func TestSidecarRejectsEmptySecret(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	_, err := gatewaytest.Launch(t, gatewaytest.Options{
		Config:   sidecarConfig(up.URL, up.URL, filepath.Join(t.TempDir(), "o.db"), ""),
		Env:      []string{"SC_SECRET1=" + secret1},
		UnsetEnv: []string{"SC_SECRET2"},
	})
	if err == nil || !strings.Contains(err.Error(), "endpoint 1: secret is empty") {
		t.Fatalf("Launch = %v, want the empty secret reported", err)
	}
}

// scgate send through the screenshotcenter_webhook receiver gateway.
func TestSendThroughReceiver(t *testing.T) {
	const secret = "receiver-secret"
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret {env.RECV_SECRET}
	}
	reverse_proxy ` + up.Addr + `
}`,
		Env: []string{"RECV_SECRET=" + secret},
	})
	env := []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + secret}
	send := func(args ...string) (string, int) {
		return scgate(t, env, append([]string{"send", "--url", gw.URL + "/webhooks/screenshot",
			"--allow-private", "--initial-backoff", "20ms"}, args...)...)
	}

	// A generated sample: delivered once.
	out, code := send()
	if code != 0 || !strings.Contains(out, "attempt 1/5: 200") {
		t.Fatalf("send (%d):\n%s", code, out)
	}
	if up.Count() != 1 {
		t.Fatalf("upstream saw %d, want 1", up.Count())
	}
	if !strings.Contains(string(up.Requests()[0].Body), `"screenshot_id":"sc_`) {
		t.Errorf("sample body %s", up.Requests()[0].Body)
	}

	// The upstream fails twice: the third attempt is forwarded.
	up.Reset()
	up.FailFirst(2, http.StatusInternalServerError)
	file := filepath.Join(t.TempDir(), "event.json")
	body := `{"event":"screenshot.finished","screenshot_id":"sc_e2e_retry","created_at":"2026-02-22T14:30:00Z"}`
	os.WriteFile(file, []byte(body), 0o600)
	out, code = send("--data", file)
	if code != 0 || !strings.Contains(out, "attempt 3/5: 200") || !strings.Contains(out, "attempt 1/5: 500") {
		t.Fatalf("send with failing upstream (%d):\n%s", code, out)
	}
	if up.Count() != 3 {
		t.Fatalf("upstream saw %d, want 3", up.Count())
	}
	// A further retry of the same event is deduped by the gateway.
	out, code = send("--data", file)
	if code != 0 || up.Count() != 3 {
		t.Fatalf("resend (%d), upstream %d:\n%s", code, up.Count(), out)
	}

	// Wrong secret: 401 every time, exhausted, non-zero exit.
	out, code = scgate(t, nil, "send", "--url", gw.URL+"/", "--secret", "wrong", "--allow-private",
		"--initial-backoff", "1ms", "--attempts", "2")
	if code == 0 || strings.Count(out, ": 401") != 2 {
		t.Fatalf("wrong secret (%d):\n%s", code, out)
	}
	// Without --allow-private the SSRF guard refuses the loopback gateway.
	out, code = scgate(t, env, "send", "--url", gw.URL+"/")
	if code == 0 || !strings.Contains(out, "SSRF") {
		t.Fatalf("guard (%d):\n%s", code, out)
	}
	// sign prints what the receiver accepts.
	sig, code := scgate(t, env, "sign", "--data", file)
	if code != 0 || strings.TrimSpace(sig) != verifier.Sign([]byte(secret), []byte(body)) {
		t.Fatalf("sign (%d): %s", code, sig)
	}
}
