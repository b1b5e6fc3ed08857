package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

const (
	secret      = "integration-secret-a"
	otherSecret = "integration-secret-b"
	sigHeader   = "X-ScreenshotCenter-Signature"
)

// globalOptions are the options every caddytest config needs.
const globalOptions = `{
	admin localhost:{{ADMIN_PORT}}
	skip_install_trust
	http_port {{HTTP_PORT}}
	https_port {{HTTPS_PORT}}
	persist_config off
	{{GLOBAL}}
}
`

// gatewaySite is the usual site: the gateway with gatewayOptions in front of
// a reverse_proxy to upstream.
const gatewaySite = `http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret ` + secret + `
		{{OPTIONS}}
	}
	reverse_proxy {{UPSTREAM}}
}
`

// config fills the {{...}} values in globalOptions+site: the ports, and the
// values given as name/value pairs (e.g. "UPSTREAM", up.Addr).
//
// Each config gets a new HTTP port (gatewayURL follows it). Caddy on Linux
// listens with SO_REUSEPORT: on a reload to the same port the new server
// opens its own socket and the old one closes its socket, resetting the
// connections the kernel had just queued on it, so the first requests
// after a reload could fail with a reset or EOF that no application saw.
func config(site string, pairs ...string) string {
	httpPort = gatewaytest.FreePort(tb{})
	r := []string{
		"{{ADMIN_PORT}}", strconv.Itoa(adminPort),
		"{{HTTP_PORT}}", strconv.Itoa(httpPort),
		"{{HTTPS_PORT}}", strconv.Itoa(httpsPort),
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		r = append(r, "{{"+pairs[i]+"}}", pairs[i+1])
	}
	out := strings.NewReplacer(r...).Replace(globalOptions + site)
	// Drop the template values nobody filled.
	return regexp.MustCompile(`\{\{[A-Z_]+\}\}`).ReplaceAllString(out, "")
}

// load starts (or reconfigures) the in-process Caddy with a Caddyfile.
func load(t *testing.T, caddyfile string) *caddytest.Tester {
	t.Helper()
	tc := newTester(t)
	tc.InitServer(caddyfile, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	// The previous config's servers close their idle connections as they
	// shut down, racing with a request sent on one of them (it fails with
	// EOF, and Go does not retry a POST): start from new connections.
	client.CloseIdleConnections()
	client.Transport = newTransport()
	return tc
}

// loadGateway loads gatewaySite with the given gateway options in front of
// upstream.
func loadGateway(t *testing.T, upstream, options string) *caddytest.Tester {
	t.Helper()
	return load(t, config(gatewaySite, "UPSTREAM", upstream, "OPTIONS", options))
}

func gatewayURL() string { return "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/hook" }

var idCounter atomic.Int64

// uid returns an id no other request in this process used: the memory
// dedupe store is shared by every config of the process and outlives
// reloads, so each test needs its own ids.
func uid(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + strconv.FormatInt(idCounter.Add(1), 10)
}

// event returns a body of the named event for a fresh screenshot id.
func event(t *testing.T, name string) string {
	return `{"event":"` + name + `","screenshot_id":"` + uid(t) + `","status":"finished"}`
}

func sign(key, body string) string { return verifier.Sign([]byte(key), []byte(body)) }

// request builds a POST of body to the gateway. headers are name/value
// pairs; unless one of them is the signature header (give it an empty value
// to send none), the body is signed with secret.
func request(t *testing.T, body string, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, gatewayURL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sigHeader, sign(secret, body))
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == http.CanonicalHeaderKey(sigHeader) {
			req.Header.Del(sigHeader)
			if headers[i+1] != "" {
				req.Header.Set(sigHeader, headers[i+1])
			}
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// result is what the client saw.
type result struct {
	Status int
	Header http.Header
	Body   string
}

// Outcome is the gateway's own verdict header, "" when the answer came
// from the upstream.
func (r result) Outcome() string { return r.Header.Get("X-Scgate-Outcome") }

// Reason is the reason code of the gateway's JSON error body
// ({"status":401,"reason":"signature_mismatch"}), "" for any other body.
func (r result) Reason() string {
	var v struct {
		Status int    `json:"status"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(r.Body), &v) != nil || v.Status != r.Status {
		return ""
	}
	return v.Reason
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: newTransport()}

func newTransport() *http.Transport {
	return &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
}

func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

// post sends a signed delivery of body (see request for headers).
func post(t *testing.T, body string, headers ...string) result {
	t.Helper()
	return do(t, request(t, body, headers...))
}

// chunked makes req send its body with chunked encoding and no
// Content-Length.
func chunked(req *http.Request, body string) *http.Request {
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader(body)))
	req.GetBody = nil
	req.ContentLength = -1
	return req
}

// expect checks a result's status and outcome header.
func expect(t *testing.T, what string, got result, status int, outcome string) {
	t.Helper()
	if got.Status != status || got.Outcome() != outcome {
		t.Fatalf("%s: got %d (outcome %q, body %.200q), want %d (outcome %q)", what, got.Status, got.Outcome(), got.Body, status, outcome)
	}
}

func withCancel(req *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithCancel(req.Context())
	return req.WithContext(ctx), cancel
}

// slowUpstream is how long an upstream takes that is still working when
// its client hangs up (the audit's 1.5 s).
const slowUpstream = 1500 * time.Millisecond

// waitFor waits for the upstream to report a request, failing the test
// (instead of hanging) if none comes.
func waitFor(t *testing.T, arrived <-chan gatewaytest.Request) gatewaytest.Request {
	t.Helper()
	select {
	case r := <-arrived:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream never received the request")
		return gatewaytest.Request{}
	}
}

// forwardedOnce sends req, expects the upstream's 200, and returns the one
// request the upstream received for it.
func forwardedOnce(t *testing.T, up *gatewaytest.Upstream, req *http.Request) gatewaytest.Request {
	t.Helper()
	before := up.Count()
	expect(t, "delivery", do(t, req), 200, "")
	reqs := up.Requests()
	if len(reqs) != before+1 {
		t.Fatalf("the upstream received %d requests for one delivery, want 1", len(reqs)-before)
	}
	return reqs[before]
}

// answered is what a request sent in the background got: the status, or
// the client's error (for one that was cancelled).
type answered struct {
	status int
	err    error
}

// sendInBackground sends req from another goroutine; the channel receives
// its answer.
func sendInBackground(req *http.Request) <-chan answered {
	done := make(chan answered, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- answered{err: err}
			return
		}
		resp.Body.Close()
		done <- answered{status: resp.StatusCode}
	}()
	return done
}

// postSettled sends body until its claim is no longer held (no 409) and
// returns that answer.
func postSettled(t *testing.T, body string) result {
	t.Helper()
	var last result
	eventually.Succeeds(t, 15*time.Second, func() error {
		if last = post(t, body); last.Status == http.StatusConflict {
			return errors.New("the claim is still held (409)")
		}
		return nil
	})
	return last
}
