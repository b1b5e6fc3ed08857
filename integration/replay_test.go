package integration

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// anyHostSite answers every Host on the port, as `:8080` in a Caddyfile
// does, with the gateway on every path under /webhooks/.
const anyHostSite = `http://:{{HTTP_PORT}} {
	handle /webhooks/* {
		screenshotcenter_webhook {
			secret ` + secret + `
		}
		reverse_proxy {{UPSTREAM}}
	}
}
`

// The dedupe key of a signed event depends only on the signed body and the
// configuration: a captured event replayed with another Host, another
// spelling of the path that reaches the handler, a query string or an
// unsigned header is a duplicate, not a new event.
func TestReplayWithOtherRequestDetailsIsADuplicate(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	load(t, config(anyHostSite, "UPSTREAM", up.Addr))
	body := event(t, "screenshot.finished")
	port := strconv.Itoa(httpPort)
	send := func(host, path string, header ...string) result {
		req := request(t, body, header...)
		req.URL.Path, req.URL.RawQuery = path, ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			req.URL.Path, req.URL.RawQuery = path[:i], path[i+1:]
		}
		if host != "" {
			req.Host = host
		}
		return do(t, req)
	}
	expect(t, "the delivery", send("", "/webhooks/screenshot"), 200, "")
	for _, replay := range []struct {
		name, host, path string
		header           []string
	}{
		{"other host", "other-host", "/webhooks/screenshot", nil},
		{"host in capitals", "LOCALHOST:" + port, "/webhooks/screenshot", nil},
		{"host with a trailing dot", "127.0.0.1.:" + port, "/webhooks/screenshot", nil},
		{"trailing slash", "", "/webhooks/screenshot/", nil},
		{"path in capitals", "", "/WEBHOOKS/screenshot", nil},
		{"other path under the route", "", "/webhooks/other", nil},
		{"query string", "", "/webhooks/screenshot?replay=1", nil},
		{"unsigned header", "", "/webhooks/screenshot", []string{"X-Replay", "1"}},
	} {
		got := send(replay.host, replay.path, replay.header...)
		if got.Status != http.StatusOK || got.Outcome() != "duplicate" {
			t.Errorf("replay with %s: %d (outcome %q), want 200 duplicate", replay.name, got.Status, got.Outcome())
		}
	}
	if n := up.Count(); n != 1 {
		t.Fatalf("the upstream received the event %d times, want once", n)
	}
}

// twoEndpoints is a site with two webhook endpoints, each in front of its
// own application, sharing the process's memory store.
const twoEndpoints = `http://127.0.0.1:{{HTTP_PORT}} {
	handle /a {
		screenshotcenter_webhook {
			secret ` + secret + `
			{{DEDUPE_A}}
		}
		reverse_proxy {{A}}
	}
	handle /b {
		screenshotcenter_webhook {
			secret {env.SCGATE_TEST_SECRET_B}
			{{DEDUPE_B}}
		}
		reverse_proxy {{B}}
	}
}
`

// Two endpoints of one Caddy that share a store never take each other's
// events: without a namespace to tell them apart the config does not load
// (it names both handlers); with one each, an event delivered to both URLs
// reaches both applications, and retries to each are duplicates; with the
// same one by choice, they are one endpoint.
func TestTwoEndpointsSharingAStore(t *testing.T) {
	t.Setenv("SCGATE_TEST_SECRET_B", secret)
	upA, upB := gatewaytest.NewUpstream(t), gatewaytest.NewUpstream(t)
	loadGateway(t, upA.Addr, "") // Caddy runs: a refused config leaves it running

	err := loadErr(t, config(twoEndpoints, "A", upA.Addr, "B", upB.Addr))
	for _, want := range []string{"#1", "#2 (secret {env.SCGATE_TEST_SECRET_B})", "share the memory dedupe store", "namespace"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("two endpoints without namespaces: load error %v, want one with %q", err, want)
		}
	}

	body := event(t, "screenshot.finished")
	send := func(path string) result {
		req := request(t, body)
		req.URL.Path = path
		return do(t, req)
	}
	load(t, config(twoEndpoints, "A", upA.Addr, "B", upB.Addr,
		"DEDUPE_A", "dedupe {\n\t\t\t\tnamespace app-a\n\t\t\t}",
		"DEDUPE_B", "dedupe {\n\t\t\t\tnamespace app-b\n\t\t\t}"))
	expect(t, "to /a", send("/a"), 200, "")
	expect(t, "to /b", send("/b"), 200, "")
	expect(t, "retry to /a", send("/a"), 200, "duplicate")
	expect(t, "retry to /b", send("/b"), 200, "duplicate")
	if upA.Count() != 1 || upB.Count() != 1 {
		t.Fatalf("upstreams received %d and %d events, want 1 each", upA.Count(), upB.Count())
	}

	body = event(t, "screenshot.finished")
	load(t, config(twoEndpoints, "A", upA.Addr, "B", upB.Addr,
		"DEDUPE_A", "dedupe {\n\t\t\t\tnamespace shared\n\t\t\t}",
		"DEDUPE_B", "dedupe {\n\t\t\t\tnamespace shared\n\t\t\t}"))
	expect(t, "to /a with a shared namespace", send("/a"), 200, "")
	expect(t, "to /b with a shared namespace", send("/b"), 200, "duplicate")
}

// loadErr posts a Caddyfile to the admin endpoint and returns the error
// Caddy answers, nil if the config loaded.
func loadErr(t *testing.T, caddyfile string) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://localhost:"+strconv.Itoa(adminPort)+"/load", strings.NewReader(caddyfile))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return &loadError{status: resp.StatusCode, msg: string(bytes.TrimSpace(msg))}
}

type loadError struct {
	status int
	msg    string
}

func (e *loadError) Error() string { return strconv.Itoa(e.status) + ": " + e.msg }
