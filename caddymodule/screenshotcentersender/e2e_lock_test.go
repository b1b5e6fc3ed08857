package screenshotcentersender_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// While a gateway holds the store, `scgate validate` of a config naming the
// same store succeeds, and a second gateway on it starts, answers 503 with
// Retry-After, and takes the store over when the first one stops.
func TestSidecarLockedStore(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	env := []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2}
	cfg := sidecarConfig(up.URL, up.URL, store, "")
	first := gatewaytest.Start(t, gatewaytest.Options{Config: cfg, Env: env})

	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(first.Expand(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := scgate(t, env, "validate", "--config", file, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("validate against a running gateway's store (%d):\n%s", code, out)
	}
	if strings.Contains(out, secret1) {
		t.Fatalf("validate printed a secret:\n%s", out)
	}

	second := gatewaytest.Start(t, gatewaytest.Options{Config: cfg, Env: env})
	body := `{"event":"screenshot.finished","screenshot_id":"sc_lock1"}`
	req, _ := http.NewRequest(http.MethodPost, second.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second gateway while locked: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !second.WaitOutput("outbox file is locked by another process", 10*time.Second) {
		t.Fatal("the wait for the lock was not logged")
	}
	if code, resp := post(t, first.URL+"/", "application/json", body); code != http.StatusAccepted {
		t.Fatalf("first gateway: %d %s", code, resp)
	}
	waitCount(t, up, 1)

	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		code, resp := post(t, second.URL+"/", "application/json", body)
		switch code {
		case http.StatusAccepted:
			return nil
		case http.StatusServiceUnavailable:
			return fmt.Errorf("second gateway after the first stopped: %d %s", code, resp)
		}
		t.Fatalf("second gateway after the first stopped: %d %s", code, resp)
		return nil
	})
	waitCount(t, up, 2)
}
