package screenshotcentersender_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

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
	// The old config's server closes its idle connections as it shuts
	// down, racing with a POST sent on one of them (EOF, and Go does not
	// retry a POST): start from a new connection. Even a new one can be
	// reset: Caddy on Linux listens with SO_REUSEPORT, and the old socket,
	// closing, resets the connections the kernel had just queued on it
	// (never accepted, so nothing was stored): send again on a transport
	// error, as an application would; a status is never retried.
	http.DefaultClient.CloseIdleConnections()
	eventually.Succeeds(t, 10*time.Second, func() error {
		r, err := http.Post(gw.URL+"/", "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		code, resp = r.StatusCode, string(b)
		return nil
	})
	if code != http.StatusAccepted {
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
	out, code = scgate(t, nil, "deliveries", "show", id, "--json", "--store", store)
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

// A secret that is empty, blank, short or guessable is a config error
// naming the endpoint and the reason, never an open sidecar, and the value
// is not printed.
func TestSidecarRejectsBadSecrets(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	for _, tc := range []struct {
		name    string
		secret2 string // the value of SC_SECRET2, "" to leave it unset
		config  func(string) string
		want    string
	}{
		{"unset", "", nil, "endpoint 1: secret is empty: environment variable SC_SECRET2 is unset or empty"},
		{"blank", "                    ", nil, "endpoint 1: secret is only whitespace"},
		{"short", "short-secret", nil, "endpoint 1: secret is shorter than 16 bytes"},
		{"{system.os}", secret2, func(c string) string { return strings.Replace(c, "{env.SC_SECRET2}", "{system.os}", 1) },
			"endpoint 1: secret has the placeholder {system.os}, whose value anyone can guess"},
		{"{time.now.year}", secret2, func(c string) string { return strings.Replace(c, "{env.SC_SECRET2}", "{time.now.year}", 1) },
			"endpoint 1: secret has the placeholder {time.now.year}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := sidecarConfig(up.URL, up.URL, filepath.Join(t.TempDir(), "o.db"), "")
			if tc.config != nil {
				config = tc.config(config)
			}
			env := []string{"SC_SECRET1=" + secret1}
			if tc.secret2 != "" {
				env = append(env, "SC_SECRET2="+tc.secret2)
			}
			g, err := gatewaytest.Launch(t, gatewaytest.Options{Config: config, Env: env, UnsetEnv: []string{"SC_SECRET2"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Launch = %v, want %q", err, tc.want)
			}
			if g != nil && (strings.Contains(g.Output(), "short-secret") || strings.Contains(g.Output(), `"linux"`)) {
				t.Errorf("the output shows the secret:\n%s", g.Output())
			}
		})
	}
}
