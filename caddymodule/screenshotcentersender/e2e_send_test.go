package screenshotcentersender_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

// scgate send through the screenshotcenter_webhook receiver gateway.
func TestSendThroughReceiver(t *testing.T) {
	const secret = "receiver-secret-0123"
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
	out, code = scgate(t, nil, "send", "--url", gw.URL+"/", "--secret", "wrong-secret-0123456789", "--allow-private",
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

// scgate send and sign refuse a secret that a config refuses (blank, or
// shorter than 16 bytes), from --secret or the environment, without
// printing it and before anything is sent.
func TestSendAndSignRefuseWeakSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request was sent: %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	send := []string{"send", "--url", srv.URL + "/hook", "--allow-private", "--attempts", "1"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"sign, short --secret", nil, []string{"sign", "--secret", "dev-secret"}, "scgate sign: --secret is shorter than 16 bytes"},
		{"sign, blank --secret", nil, []string{"sign", "--secret", "                "}, "scgate sign: --secret is only whitespace"},
		{"sign, short variable", []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=dev-secret"}, []string{"sign"}, "scgate sign: $SCREENSHOTCENTER_WEBHOOK_SECRET is shorter than 16 bytes"},
		{"send, short --secret", nil, append(send, "--secret", "dev-secret"), "scgate send: --secret is shorter than 16 bytes"},
		{"send, blank variable", []string{"SCREENSHOTCENTER_WEBHOOK_SECRET= "}, send, "scgate send: $SCREENSHOTCENTER_WEBHOOK_SECRET is only whitespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := scgateSplit(t, append([]string{"SCREENSHOTCENTER_WEBHOOK_SECRET="}, tc.env...), tc.args...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tc.want)
			}
			if strings.Contains(stderr, "dev-secret") {
				t.Errorf("stderr shows the secret: %q", stderr)
			}
		})
	}
	// 16 bytes are enough.
	sig, code := scgate(t, nil, "sign", "--secret", "sixteen-bytes!!!")
	if code != 0 || strings.TrimSpace(sig) != verifier.Sign([]byte("sixteen-bytes!!!"), nil) {
		t.Fatalf("sign with a 16-byte secret (%d): %s", code, sig)
	}
}

// scgate sign and send refuse a public key (Discord's, Standard Webhooks'
// whpk_), which verifies but cannot sign, with a clear error and exit 1
// (sign printed nothing and exited 0; send sent the body unsigned).
func TestSendAndSignRefusePublicKeys(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request was sent: %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	data := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(data, []byte(`{"type":1,"id":"1","application_id":"2","token":"t","version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	const discordPub, standardPub = "abababababababababababababababababababababababababababababababab", "whpk_q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="
	send := []string{"send", "--url", srv.URL + "/hook", "--allow-private", "--attempts", "1", "--data", data}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"sign, discord", []string{"sign", "--scheme", "discord", "--secret", discordPub, "--data", data}, "scgate sign: --secret is a public key, which cannot sign"},
		{"sign, standard", []string{"sign", "--scheme", "standard", "--secret", standardPub, "--data", data}, "scgate sign: --secret is a public key, which cannot sign"},
		{"send, discord", append(send, "--scheme", "discord", "--secret", discordPub), "scgate send: --secret is a public key, which cannot sign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := scgateSplit(t, []string{"SCREENSHOTCENTER_WEBHOOK_SECRET="}, tc.args...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// scgate send checks --data with the receiver's checks (all but the
// signature's): a body the receiver refuses, or an --event that the
// receiver's X-ScreenshotCenter-Event rule refuses, is not sent.
func TestSendChecksTheBodyAsTheReceiver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request was sent: %s %s", r.Method, r.URL)
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	finished := file("finished.json", `{"event":"screenshot.finished","screenshot_id":"1"}`)
	noEvent := file("noevent.json", `{"screenshot_id":"1"}`)
	twice := file("twice.json", `{"event":"screenshot.finished","event":"batch.finished"}`)
	send := []string{"send", "--url", srv.URL + "/hook", "--allow-private", "--attempts", "1", "--secret", "sixteen-bytes!!!"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--event differs", []string{"--data", finished, "--event", "batch.finished"}, `scgate send: --event "batch.finished" differs from the body's event (receivers refuse that)`},
		{"no event", []string{"--data", noEvent}, "scgate send: --data: event_missing: "},
		{"a key twice", []string{"--data", twice}, "scgate send: --data: duplicate_key: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := scgateSplit(t, nil, append(send, tc.args...)...)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// What `scgate send` says when a delivery fails, through the built binary:
// a redirect is not followed and its Location is named; a refused attempt
// shows the start of the response body, bounded, control characters
// escaped; the reason it gave up is one sentence on stderr, never a JSON
// log line; help says scgate.
func TestSendExplainsFailures(t *testing.T) {
	long := strings.Repeat("x", 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			w.Header().Set("Location", "https://elsewhere.example/hook?x=1")
			w.WriteHeader(http.StatusFound)
		case "/broken":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "boom\x00\x1b[31m\n"+long)
		case "/gone":
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer srv.Close()
	env := []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=sender-test-secret"}
	send := func(path string) (string, string, int) {
		return scgateSplit(t, env, "send", "--url", srv.URL+path, "--allow-private", "--attempts", "2", "--initial-backoff", "1ms")
	}
	tests := []struct {
		path       string
		stdout     []string
		stderr     string
		notStdout  []string
		wantStatus int
	}{
		{"/moved", []string{"attempt 1/2: 302", "redirects are not followed; it pointed to \"https://elsewhere.example/hook?x=1\""},
			"scgate send: failed after 2 attempts: the endpoint answers with a redirect, which is not followed; send to the URL it points to\n",
			nil, 1},
		{"/broken", []string{"attempt 2/2: 500", `response: "boom\x00\x1b[31m\n` + strings.Repeat("x", 189) + `" (first 200 of 1011 bytes)`},
			"scgate send: failed after 2 attempts: the last answer was 500\n",
			[]string{strings.Repeat("x", 190), "\x1b"}, 1},
		{"/gone", []string{"attempt 1/2: 410"}, "scgate send: the endpoint answered 410 Gone: not retrying\n", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			stdout, stderr, code := send(tt.path)
			if code != tt.wantStatus || stderr != tt.stderr {
				t.Fatalf("exit %d, stderr %q; want %d, %q\nstdout:\n%s", code, stderr, tt.wantStatus, tt.stderr, stdout)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, not := range tt.notStdout {
				if strings.Contains(stdout, not) {
					t.Errorf("stdout holds %q:\n%s", not, stdout)
				}
			}
		})
	}
	// Invalid input: a sentence on stderr, nothing on stdout.
	stdout, stderr, code := scgateSplit(t, nil, "send", "--url", "ftp://x/", "--secret", "sender-test-secret")
	if code != 1 || stdout != "" || stderr != "scgate send: --url: endpoint URL must be absolute http or https\n" {
		t.Fatalf("bad --url: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, args := range [][]string{{"send", "--help"}, {"deliveries", "retry", "--help"}, {"sign", "--help"}} {
		out, code := scgate(t, nil, args...)
		if code != 0 || !strings.Contains(out, "scgate "+args[0]) || strings.Contains(out, "caddy "+args[0]) {
			t.Errorf("%v (%d) does not say scgate:\n%s", args, code, out)
		}
	}
}
