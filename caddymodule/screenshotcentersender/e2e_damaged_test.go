package screenshotcentersender_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/outboxtest"
	"github.com/scgate/scgate/verifier"
)

// receiverSite is a receiving gateway, for configs where it shares the
// process with a sidecar.
func receiverSite(up string) string {
	return `
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret {env.SC_SECRET1}
	}
	reverse_proxy ` + up + `
}`
}

// damagedOutboxError checks that output reports the damaged store path as
// a config error that says what to do, and no panic.
func damagedOutboxError(t *testing.T, what, output, path string) {
	t.Helper()
	if strings.Contains(output, "panic") || strings.Contains(output, "fatal error") || strings.Contains(output, "SIGBUS") {
		t.Fatalf("%s: the process panicked:\n%s", what, output)
	}
	if !strings.Contains(output, path) || !strings.Contains(output, "outbox file is damaged") || !strings.Contains(output, "move it aside") {
		t.Fatalf("%s: no error naming %s and what to do:\n%s", what, path, output)
	}
}

// A damaged outbox (truncated, a page zeroed or overwritten with garbage,
// empty) through the built binary: `scgate run` and `scgate validate`
// refuse the config with an error that names the file and what to do, and
// exit 1, not with a panic; `scgate deliveries list` says the same; the
// file is left as it was. A running gateway asked to load such a config
// keeps its receiver serving.
func TestDamagedOutboxIsAConfigError(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	_, damaged := outboxtest.Files(t, t.TempDir())
	env := []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2}

	// One gateway with a receiver, kept running through every attempt.
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: "{\n\tadmin {{ADMIN_ADDR}}\n\tpersist_config off\n}" + receiverSite(up.URL),
		Env:    env,
	})
	sent := 0
	signed := func() int {
		sent++
		body := `{"event":"screenshot.finished","screenshot_id":"sc_damaged_` + strconv.Itoa(sent) + `"}`
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-ScreenshotCenter-Signature", verifier.Sign([]byte(secret1), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := signed(); code != http.StatusOK {
		t.Fatalf("receiver before: %d", code)
	}

	for name, path := range damaged {
		t.Run(name, func(t *testing.T) {
			before, _ := os.ReadFile(path)
			config := sidecarConfig(up.URL, up.URL, path, "")

			g, err := gatewaytest.Launch(t, gatewaytest.Options{Config: config, Env: env})
			if err == nil {
				t.Fatal("scgate run started with a damaged outbox")
			}
			damagedOutboxError(t, "run", g.Output(), path)
			if code := g.ExitCode(); code != 1 {
				t.Errorf("run exited %d, want 1", code)
			}

			cfg := g.Dir + "/Caddyfile"
			out, code := scgate(t, env, "validate", "--config", cfg)
			damagedOutboxError(t, "validate", out, path)
			if code != 1 {
				t.Errorf("validate exited %d, want 1", code)
			}

			out, code = scgate(t, nil, "deliveries", "list", "--store", path)
			damagedOutboxError(t, "deliveries list", out, path)
			if code == 0 {
				t.Error("deliveries list exited 0")
			}

			// The receiver's process survives a reload to a config
			// that adds a sidecar on the damaged file.
			reload := "{\n\tadmin {{ADMIN_ADDR}}\n\tpersist_config off\n}" + receiverSite(up.URL) + `
http://127.0.0.1:{{HTTPS_PORT}} {
	screenshotcenter_sender {
		endpoint ` + up.URL + `/hook {
			secret {env.SC_SECRET1}
		}
		store ` + path + `
	}
}`
			if err := gw.Reload(reload); err == nil {
				t.Fatal("a reload onto a damaged outbox was accepted")
			} else if !strings.Contains(err.Error(), "outbox file is damaged") {
				t.Errorf("reload error: %v", err)
			}
			if !gw.Running() {
				t.Fatalf("the gateway exited:\n%s", gw.Output())
			}
			if code := signed(); code != http.StatusOK {
				t.Fatalf("receiver after the refused reload: %d", code)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Fatal("the damaged file was changed")
			}
		})
	}
	if strings.Contains(gw.Output(), "panic") {
		t.Fatalf("the running gateway logged a panic:\n%s", gw.Output())
	}
}
