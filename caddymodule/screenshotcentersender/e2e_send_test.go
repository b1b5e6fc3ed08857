package screenshotcentersender_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

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
