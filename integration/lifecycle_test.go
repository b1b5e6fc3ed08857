package integration

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// 10. Every rejection is logged with its reason code, without the secret or
// the body.
func TestRejectionsAreLoggedWithAReasonCode(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	logPath := filepath.Join(t.TempDir(), "gateway.log")
	load(t, config(gatewaySite,
		"UPSTREAM", up.Addr,
		"OPTIONS", "max_body 1KiB\n\t\tmax_age 1h",
		"GLOBAL", "log gateway {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t\tlevel DEBUG\n\t\tinclude http.handlers.screenshotcenter_webhook\n\t}",
	))
	const marker = "BODY-CONTENT-MARKER"
	now := time.Now().UTC().Format(time.RFC3339)
	fresh := func(t *testing.T, event string) string {
		return `{"event":"` + event + `","screenshot_id":"` + uid(t) + `","note":"` + marker + `","created_at":"` + now + `"}`
	}
	tests := []struct {
		name   string
		req    func(t *testing.T) *http.Request
		status int
		reason string
	}{
		{"method", func(t *testing.T) *http.Request {
			r := request(t, fresh(t, "screenshot.finished"))
			r.Method = http.MethodGet
			return r
		}, 405, "method_not_allowed"},
		{"too large", func(t *testing.T) *http.Request {
			return request(t, fresh(t, "screenshot.finished")+strings.Repeat(" ", 2048))
		}, 413, "body_too_large"},
		{"no signature", func(t *testing.T) *http.Request {
			return request(t, fresh(t, "screenshot.finished"), sigHeader, "")
		}, 401, "signature_missing"},
		{"malformed signature", func(t *testing.T) *http.Request {
			return request(t, fresh(t, "screenshot.finished"), sigHeader, "sha256=xyz")
		}, 401, "signature_malformed"},
		{"wrong secret", func(t *testing.T) *http.Request {
			b := fresh(t, "screenshot.finished")
			return request(t, b, sigHeader, sign("wrong", b))
		}, 401, "signature_mismatch"},
		{"not an object", func(t *testing.T) *http.Request { return request(t, `["`+marker+`"]`) }, 400, "body_not_object"},
		{"repeated key", func(t *testing.T) *http.Request {
			return request(t, `{"event":"a","event":"b","note":"`+marker+`"}`)
		}, 400, "duplicate_key"},
		{"event header differs", func(t *testing.T) *http.Request {
			return request(t, fresh(t, "screenshot.finished"), "X-ScreenshotCenter-Event", "batch.finished")
		}, 400, "event_header_mismatch"},
		{"created_at missing", func(t *testing.T) *http.Request {
			return request(t, `{"event":"screenshot.finished","note":"`+marker+`"}`)
		}, 401, "created_at_missing"},
		{"created_at too old", func(t *testing.T) *http.Request {
			return request(t, `{"event":"screenshot.finished","created_at":"2001-01-01T00:00:00Z"}`)
		}, 401, "created_at_too_old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(readJSONLines(t, logPath))
			got := do(t, tt.req(t))
			if got.Status != tt.status {
				t.Fatalf("status %d, want %d", got.Status, tt.status)
			}
			var lines []map[string]any
			eventually.Succeeds(t, 15*time.Second, func() error {
				if lines = readJSONLines(t, logPath); len(lines) == before {
					return errors.New("no new log line")
				}
				return nil
			})
			line := lines[len(lines)-1]
			if line["reason"] != tt.reason || line["logger"] != "http.handlers.screenshotcenter_webhook" {
				t.Errorf("log line %v, want reason %q", line, tt.reason)
			}
		})
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), marker) {
		t.Errorf("the log holds the secret or a body:\n%s", raw)
	}
}

// Dedupe state lives in a caddy.UsagePool and survives a config reload.
func TestDedupeStateSurvivesAConfigReload(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	site := `http://127.0.0.1:{{HTTP_PORT}} {
	header X-Config-Generation {{GEN}}
	screenshotcenter_webhook {
		secret ` + secret + `
		max_body {{MAX}}
	}
	reverse_proxy {{UPSTREAM}}
}
`
	load(t, config(site, "UPSTREAM", up.Addr, "GEN", "1", "MAX", "1MiB"))
	body := event(t, "screenshot.finished")
	got := post(t, body)
	expect(t, "delivery before the reload", got, 200, "")
	if got.Header.Get("X-Config-Generation") != "1" {
		t.Fatalf("generation %q before the reload", got.Header.Get("X-Config-Generation"))
	}

	// A changed config (an identical one would be a no-op), through /load.
	load(t, config(site, "UPSTREAM", up.Addr, "GEN", "2", "MAX", "512KiB"))
	got = post(t, body)
	expect(t, "retry after the reload", got, 200, "duplicate")
	if got.Header.Get("X-Config-Generation") != "2" {
		t.Fatalf("generation %q after the reload: the new config is not serving", got.Header.Get("X-Config-Generation"))
	}
	expect(t, "new event after the reload", post(t, event(t, "screenshot.finished")), 200, "")
	if n := up.Count(); n != 2 {
		t.Fatalf("upstream received %d requests, want 2", n)
	}
}

// repoFile returns the path of a file at the repository root.
func repoFile(t *testing.T, name string) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", name)
}

// exampleConfig is Caddyfile.example with its fixed ports replaced by the
// gatewaytest template values.
func exampleConfig(t *testing.T) string {
	raw, err := os.ReadFile(repoFile(t, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, r := range [][2]string{{"admin localhost:2019", "admin {{ADMIN_ADDR}}"}, {"\n:8080 {", "\n:{{HTTP_PORT}} {"}} {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("Caddyfile.example no longer contains %q; update this test", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}

// The scgate binary runs Caddyfile.example with the secret from the
// environment and forwards a signed event once.
func TestBinaryRunsTheExampleWithTheSecretFromEnv(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	const envSecret = "example-secret-from-env"
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: exampleConfig(t),
		Env:    []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + envSecret, "UPSTREAM=" + up.Addr},
	})
	body := `{"event":"screenshot.finished","screenshot_id":"binary-` + strconv.FormatInt(time.Now().UnixNano(), 10) + `"}`
	send := func(path, key string) result {
		req, err := http.NewRequest(http.MethodPost, gw.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(sigHeader, sign(key, body))
		return do(t, req)
	}
	expect(t, "signed with the wrong secret", send("/webhooks/sc", secret), 401, "")
	expect(t, "signed delivery", send("/webhooks/sc", envSecret), 200, "")
	expect(t, "retry", send("/webhooks/sc", envSecret), 200, "duplicate")
	if got := send("/elsewhere", envSecret); got.Status != 404 {
		t.Errorf("outside /webhooks/: %d, want the example's 404", got.Status)
	}
	reqs := up.Requests()
	if len(reqs) != 1 || string(reqs[0].Body) != body || reqs[0].RequestURI != "/webhooks/sc" {
		t.Fatalf("upstream received %d requests (%+v)", len(reqs), reqs)
	}

	// The secret stays out of the running config.
	resp, err := http.Get(gw.AdminURL + "/config/")
	if err != nil {
		t.Fatal(err)
	}
	cfg := new(bytes.Buffer)
	_, _ = cfg.ReadFrom(resp.Body)
	resp.Body.Close()
	if strings.Contains(cfg.String(), envSecret) || !strings.Contains(cfg.String(), "{env.SCREENSHOTCENTER_WEBHOOK_SECRET}") {
		t.Errorf("running config should hold the placeholder, not the secret:\n%s", cfg)
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(gw.Output(), envSecret) {
		t.Error("the secret appears in the gateway's output")
	}
}

// Without the secret in the environment the example refuses to start.
func TestBinaryRefusesToStartWithoutTheSecret(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"unset", nil},
		{"empty", []string{"SCREENSHOTCENTER_WEBHOOK_SECRET="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusesToStart(t, exampleConfig(t), tc.env, "secret 0 is empty")
		})
	}
}

// refusesToStart runs the binary on config with env (and without
// $SCREENSHOTCENTER_WEBHOOK_SECRET unless env sets it) and checks that it
// exits with a failure whose output contains want. It returns the output.
func refusesToStart(t *testing.T, config string, env []string, want string) string {
	t.Helper()
	gw, err := gatewaytest.Launch(t, gatewaytest.Options{
		Config:       config,
		Env:          env,
		UnsetEnv:     []string{"SCREENSHOTCENTER_WEBHOOK_SECRET"},
		ReadyTimeout: 30 * time.Second,
	})
	if err == nil {
		t.Fatal("the gateway started")
	}
	if gw == nil {
		t.Fatalf("the process did not start: %v", err)
	}
	if werr := gw.Wait(10 * time.Second); werr == nil || gw.ExitCode() == 0 {
		t.Fatalf("exit: %v (code %d), want a failure", werr, gw.ExitCode())
	}
	if !strings.Contains(gw.Output(), want) {
		t.Errorf("output does not say %q:\n%s", want, gw.Output())
	}
	return gw.Output()
}

// The example does not start with a secret anyone could guess: one from a
// placeholder other than {env.*} and {file.*}, one only of whitespace, one
// shorter than 16 bytes (the old quick start's dev-secret). The output says
// why and never shows the value.
func TestBinaryRefusesAGuessableSecret(t *testing.T) {
	for _, tc := range []struct {
		name        string
		placeholder string // replaces {env.SCREENSHOTCENTER_WEBHOOK_SECRET}, if set
		env         string // the value of SCREENSHOTCENTER_WEBHOOK_SECRET
		want        string
	}{
		{"system.os", "{system.os}", "", "secret 0 has the placeholder {system.os}, whose value anyone can guess"},
		{"time.now.year", "{time.now.year}", "", "secret 0 has the placeholder {time.now.year}, whose value anyone can guess"},
		{"blank", "", " ", "secret 0 is only whitespace"},
		{"short", "", "dev-secret", "secret 0 is shorter than 16 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := exampleConfig(t)
			if tc.placeholder != "" {
				config = strings.Replace(config, "{env.SCREENSHOTCENTER_WEBHOOK_SECRET}", tc.placeholder, 1)
			}
			out := refusesToStart(t, config, []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + tc.env}, tc.want)
			if strings.Contains(out, "dev-secret") || strings.Contains(out, `"linux"`) {
				t.Errorf("the output shows the secret:\n%s", out)
			}
		})
	}
}

// The metrics are served on the admin endpoint and keep counting across a
// reload: the collectors live for the process and are registered in every
// config's registry.
func TestMetricsAreKeptAcrossAReload(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_body 1MiB")
	before := scrapeForwarded(t)
	expect(t, "delivery", post(t, event(t, "screenshot.finished")), 200, "")
	if got := scrapeForwarded(t); got != before+1 {
		t.Fatalf("forwarded counted %v, want %v", got, before+1)
	}
	loadGateway(t, up.Addr, "max_body 512KiB")
	expect(t, "delivery after the reload", post(t, event(t, "screenshot.finished")), 200, "")
	if got := scrapeForwarded(t); got != before+2 {
		t.Fatalf("forwarded counted %v after the reload, want %v (kept, then counted)", got, before+2)
	}
}

// scrapeForwarded reads scgate_webhook_requests_total{...outcome="forwarded"}
// from the admin endpoint's /metrics.
func scrapeForwarded(t *testing.T) float64 {
	t.Helper()
	return scrapeLine(t, `scgate_webhook_requests_total{endpoint="default",mode="enforce",outcome="forwarded"} `)
}

// scrapeLine reads the value of the /metrics line that starts with series
// (name, labels and the space before the value).
func scrapeLine(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://localhost:" + strconv.Itoa(adminPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s line in /metrics:\n%s", series, raw)
	return 0
}
