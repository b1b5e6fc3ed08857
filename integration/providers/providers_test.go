package providers_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/runtimes"
)

// The secrets of the README's Providers example, in each provider's
// format, and a second secret of each format that the gateway does not
// know.
const (
	githubSecret  = "gh-webhook-secret-0123456789"
	stripeSecret  = "whsec_0123456789abcdef0123456789abcdef"
	shopifySecret = "shpss_0123456789abcdef0123456789ab"
)

// secretEnv also holds valid secrets for the README's other blocks
// (Standard Webhooks, Slack, Discord: timestamped_test.go), so that the
// whole example loads.
var secretEnv = []string{
	"GITHUB_WEBHOOK_SECRET=" + githubSecret,
	"STRIPE_WEBHOOK_SECRET=" + stripeSecret,
	"SHOPIFY_API_SECRET=" + shopifySecret,
	"CLERK_WEBHOOK_SECRET=whsec_" + base64.StdEncoding.EncodeToString([]byte("clerk-test-secret-0123456789")),
	"SLACK_SIGNING_SECRET=slack-signing-secret-0123456789",
	"DISCORD_PUBLIC_KEY=" + hex.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)),
}

// provider is one scheme under test, with its provider's own code: sign
// makes the headers the provider's library (or documented recipe) sends
// with body at time at; accepts is that library's verifier.
type provider struct {
	scheme, path, sample string
	secret, otherSecret  string
	// eventHeader and event are the unsigned event header and its value,
	// for the schemes that have one.
	eventHeader, event string
	sign               func(t *testing.T, body []byte, secret string, at time.Time) http.Header
	accepts            func(t *testing.T, body []byte, secret string, h http.Header) bool
	// fresh returns another event of the provider (a new id, or other
	// bytes), which the gateway must forward.
	fresh       func(body []byte) []byte
	timestamped bool
}

func providers(t *testing.T) []provider {
	node := nodeTools(t)
	return []provider{
		{
			scheme: "github", path: "/webhooks/github", sample: "github/ping.json",
			secret: githubSecret, otherSecret: "another-github-secret-0123",
			eventHeader: "X-GitHub-Event", event: "ping",
			sign: func(t *testing.T, body []byte, secret string, _ time.Time) http.Header {
				return http.Header{"X-Hub-Signature-256": {node(t, body, "github-sign", secret)}}
			},
			accepts: func(t *testing.T, body []byte, secret string, h http.Header) bool {
				return node(t, body, "github-verify", secret, h.Get("X-Hub-Signature-256")) == "true"
			},
			fresh: func(body []byte) []byte {
				return bytes.Replace(body, []byte(`"zen": "`), []byte(`"zen": "Fresh: `), 1)
			},
		},
		{
			scheme: "stripe", path: "/webhooks/stripe", sample: "stripe/setup_intent.created.json",
			secret: stripeSecret, otherSecret: "whsec_another0123456789abcdef01234567",
			sign: func(_ *testing.T, body []byte, secret string, at time.Time) http.Header {
				p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
				return http.Header{"Stripe-Signature": {p.Header}}
			},
			accepts: func(_ *testing.T, body []byte, secret string, h http.Header) bool {
				_, err := webhook.ConstructEventWithOptions(body, h.Get("Stripe-Signature"), secret,
					webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
				return err == nil
			},
			fresh: func(body []byte) []byte {
				return bytes.Replace(body, []byte(`"evt_1NG8Du2eZvKYlo2CUI79vXWy"`), []byte(`"evt_fresh0123456789"`), 1)
			},
			timestamped: true,
		},
		{
			scheme: "shopify", path: "/webhooks/shopify", sample: "shopify/customers-redact.json",
			secret: shopifySecret, otherSecret: "shpss_another0123456789abcdef0123",
			eventHeader: "X-Shopify-Topic", event: "customers/redact",
			sign: func(t *testing.T, body []byte, secret string, _ time.Time) http.Header {
				return http.Header{"X-Shopify-Hmac-Sha256": {node(t, body, "shopify-sign", secret)}}
			},
			accepts: func(t *testing.T, body []byte, secret string, h http.Header) bool {
				return node(t, body, "shopify-verify", secret, h.Get("X-Shopify-Hmac-Sha256")) == "true"
			},
			fresh: func(body []byte) []byte {
				return bytes.Replace(body, []byte(`"shop_id": 954889`), []byte(`"shop_id": 954890`), 1)
			},
		},
	}
}

// nodeTools installs the providers' Node.js libraries (npm ci from
// testdata/node's lockfile) and returns a function that runs
// providers.mjs with body on stdin.
func nodeTools(t *testing.T) func(t *testing.T, body []byte, args ...string) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	modules := runtimes.NodeModules(t, src)
	dir := t.TempDir()
	for _, name := range []string{"providers.mjs", "package.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	rt := runtimes.Node(t)
	return func(t *testing.T, body []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command(rt.Path, append([]string{"providers.mjs"}, args...)...)
		cmd.Dir, cmd.Stdin = dir, bytes.NewReader(body)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node providers.mjs %s: %v\n%s", args[0], err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
}

// sample is a provider's published body from scheme/testdata.
func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "scheme", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readmeProviders is the README's Providers Caddyfile, in front of up.
func readmeProviders(t *testing.T, up string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Providers\n")
	block := readme[start:]
	block = block[strings.Index(block, "```caddy\n")+len("```caddy\n"):]
	block = block[:strings.Index(block, "```")]
	if !strings.Contains(block, "scheme github") || !strings.Contains(block, "scheme stripe") || !strings.Contains(block, "scheme shopify") {
		t.Fatalf("the README's Providers example lacks a provider:\n%s", block)
	}
	return strings.ReplaceAll(block, "127.0.0.1:9090", up)
}

func startGateway(t *testing.T, up *gatewaytest.Upstream) *gatewaytest.Gateway {
	t.Helper()
	return gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
` + readmeProviders(t, up.Addr) + `
}`,
		Env: secretEnv,
	})
}

// answer is what the gateway answered a POST.
type answer struct {
	status  int
	outcome string
	reason  string
}

func post(t *testing.T, url string, body []byte, h http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, outcome: resp.Header.Get("X-Scgate-Outcome")}
	var refusal struct{ Reason string }
	if json.Unmarshal(raw, &refusal) == nil {
		a.reason = refusal.Reason
	}
	return a
}

// Requests the provider's own code signs pass through the built gateway to
// the upstream once, byte for byte with their signature; a retry (for
// Stripe signed anew seconds later, as Stripe does) is a duplicate; a
// tampered body, another secret and (Stripe) a timestamp 10 minutes old
// are 401 and never forwarded.
func TestProviderLibrariesThroughTheGateway(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gw := startGateway(t, up)
	for _, p := range providers(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up.Reset()
			body := sample(t, p.sample)
			now := time.Now()
			signed := func(body []byte, secret string, at time.Time) http.Header {
				h := p.sign(t, body, secret, at)
				if p.eventHeader != "" {
					h.Set(p.eventHeader, p.event)
				}
				return h
			}
			first := signed(body, p.secret, now)
			if a := post(t, gw.URL+p.path, body, first); a.status != http.StatusOK || a.outcome != "" {
				t.Fatalf("signed by the provider's code: %+v, want forwarded", a)
			}
			reqs := up.Requests()
			if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, body) {
				t.Fatalf("upstream got %d requests, want the body once", len(reqs))
			}
			for name := range first {
				if got := reqs[0].Header.Get(name); got != first.Get(name) {
					t.Errorf("upstream got %s %q, want the provider's %q", name, got, first.Get(name))
				}
			}

			retry := signed(body, p.secret, now.Add(5*time.Second))
			if a := post(t, gw.URL+p.path, body, retry); a.status != http.StatusOK || a.outcome != "duplicate" {
				t.Errorf("retry: %+v, want a duplicate", a)
			}
			if p.eventHeader != "" {
				// The event header is not signed: a replay under another
				// type is the same event.
				other := retry.Clone()
				other.Set(p.eventHeader, "other_event")
				if a := post(t, gw.URL+p.path, body, other); a.status != http.StatusOK || a.outcome != "duplicate" {
					t.Errorf("replay with another %s: %+v, want a duplicate", p.eventHeader, a)
				}
			}

			tampered := bytes.Replace(body, []byte(`"`), []byte(`'`), 1)
			refusals := []struct {
				name   string
				body   []byte
				h      http.Header
				reason string
			}{
				{"tampered body", tampered, first, "signature_mismatch"},
				{"another secret", body, signed(body, p.otherSecret, now), "signature_mismatch"},
			}
			if p.timestamped {
				refusals = append(refusals, struct {
					name   string
					body   []byte
					h      http.Header
					reason string
				}{"signed 10 minutes ago", p.fresh(body), signed(p.fresh(body), p.secret, now.Add(-10*time.Minute)), "timestamp_too_old"})
			}
			for _, r := range refusals {
				if a := post(t, gw.URL+p.path, r.body, r.h); a.status != http.StatusUnauthorized || a.reason != r.reason {
					t.Errorf("%s: %+v, want 401 %s", r.name, a, r.reason)
				}
			}
			if n := up.Count(); n != 1 {
				t.Errorf("upstream got %d requests, want only the first", n)
			}
		})
	}
}

// What `scgate sign --scheme` prints is what the provider's own verifier
// accepts, and only under that secret; `scgate send --scheme` delivers
// through the gateway.
func TestSignAndSendSchemesAgainstProviderLibraries(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gw := startGateway(t, up)
	for _, p := range providers(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up.Reset()
			body := p.fresh(sample(t, p.sample))
			file := filepath.Join(t.TempDir(), "body.json")
			if err := os.WriteFile(file, body, 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := gatewaytest.Run(t, nil, "sign", "--scheme", p.scheme, "--secret", p.secret, "--data", file)
			if code != 0 {
				t.Fatalf("scgate sign --scheme %s: exit %d: %s", p.scheme, code, stderr)
			}
			h := http.Header{}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				name, value, ok := strings.Cut(line, ": ")
				if !ok {
					t.Fatalf("scgate sign printed %q, want Name: value lines", line)
				}
				h.Add(name, value)
			}
			if !p.accepts(t, body, p.secret, h) {
				t.Errorf("the provider's verifier refuses scgate sign's %v", h)
			}
			if p.accepts(t, body, p.otherSecret, h) {
				t.Errorf("the provider's verifier accepts scgate sign's %v under another secret", h)
			}

			args := []string{"send", "--scheme", p.scheme, "--url", gw.URL + p.path, "--secret", p.secret, "--data", file, "--allow-private", "--attempts", "1"}
			if p.eventHeader != "" {
				args = append(args, "--event", p.event)
			}
			if stdout, stderr, code := gatewaytest.Run(t, nil, args...); code != 0 {
				t.Fatalf("scgate send --scheme %s: exit %d:\n%s%s", p.scheme, code, stdout, stderr)
			}
			reqs := up.Requests()
			if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, body) {
				t.Fatalf("upstream got %d requests after scgate send, want the body once", len(reqs))
			}
			if !p.accepts(t, body, p.secret, reqs[0].Header) {
				t.Errorf("the provider's verifier refuses what scgate send sent: %v", reqs[0].Header)
			}
			if p.eventHeader != "" && reqs[0].Header.Get(p.eventHeader) != p.event {
				t.Errorf("scgate send sent %s %q, want %q", p.eventHeader, reqs[0].Header.Get(p.eventHeader), p.event)
			}
		})
	}
}

// The sender sidecar signs as the provider does with `scheme`: a local
// application posts the provider's body (and its event header), the
// sidecar stores it and delivers it in the background through the gateway
// of that scheme, and the provider's own verifier accepts what it sent.
func TestSidecarSignsAsTheProvider(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	var sidecars strings.Builder
	for _, p := range providers(t) {
		sidecars.WriteString(`
	handle /sidecar/` + p.scheme + ` {
		screenshotcenter_sender {
			scheme ` + p.scheme + `
			endpoint http://127.0.0.1:{{HTTP_PORT}}` + p.path + ` {
				secret {env.` + map[string]string{"github": "GITHUB_WEBHOOK_SECRET", "stripe": "STRIPE_WEBHOOK_SECRET", "shopify": "SHOPIFY_API_SECRET"}[p.scheme] + `}
			}
			store ` + store + `
			allow_private
		}
	}`)
	}
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
` + readmeProviders(t, up.Addr) + sidecars.String() + `
}`,
		Env: secretEnv,
	})
	for _, p := range providers(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up.Reset()
			body := p.fresh(sample(t, p.sample))
			h := http.Header{}
			if p.eventHeader != "" {
				h.Set(p.eventHeader, p.event)
			}
			if a := post(t, gw.URL+"/sidecar/"+p.scheme, body, h); a.status != http.StatusAccepted {
				t.Fatalf("sidecar answered %+v, want 202", a)
			}
			var got gatewaytest.Request
			eventually.Succeeds(t, 30*time.Second, func() error {
				reqs := up.Requests()
				if len(reqs) == 0 {
					return errors.New("nothing delivered yet")
				}
				got = reqs[0]
				return nil
			})
			if !bytes.Equal(got.Body, body) {
				t.Fatalf("upstream got another body:\n%s", got.Body)
			}
			if !p.accepts(t, body, p.secret, got.Header) {
				t.Errorf("the provider's verifier refuses what the sidecar sent: %v", got.Header)
			}
			if p.eventHeader != "" && got.Header.Get(p.eventHeader) != p.event {
				t.Errorf("the sidecar sent %s %q, want %q", p.eventHeader, got.Header.Get(p.eventHeader), p.event)
			}
		})
	}
	// A body the scheme's receiver would refuse is refused at once, not
	// stored: a Stripe event without its id.
	if a := post(t, gw.URL+"/sidecar/stripe", []byte(`{"type":"charge.succeeded"}`), http.Header{}); a.status != http.StatusBadRequest {
		t.Errorf("a Stripe event without id: %+v, want 400", a)
	}
}

// With reencode the upstream gets its runtime's re-serialisation signed
// again in the scheme's format, which the provider's own verifier accepts
// (and the original signature does not travel with it).
func TestReencodeResignsInTheSchemesFormat(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	blocks := readmeProviders(t, up.Addr)
	// The blocks of this package's providers (the timestamped schemes'
	// reencode is tested in integration/; Discord's needs a private key).
	blocks = blocks[:strings.Index(blocks, "# Standard Webhooks")]
	blocks = strings.ReplaceAll(blocks, "        dedupe {", "        reencode js\n        dedupe {")
	if strings.Count(blocks, "reencode js") != 3 {
		t.Fatalf("reencode not set in every block:\n%s", blocks)
	}
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
` + blocks + `
}`,
		Env: secretEnv,
	})
	for _, p := range providers(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up.Reset()
			body := sample(t, p.sample)
			h := p.sign(t, body, p.secret, time.Now())
			if p.eventHeader != "" {
				h.Set(p.eventHeader, p.event)
			}
			if a := post(t, gw.URL+p.path, body, h); a.status != http.StatusOK {
				t.Fatalf("%+v, want forwarded", a)
			}
			got := up.Requests()[0]
			var compact bytes.Buffer
			if err := json.Compact(&compact, body); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, compact.Bytes()) {
				t.Fatalf("upstream got %s, want JSON.stringify's compact form", got.Body)
			}
			if !p.accepts(t, got.Body, p.secret, got.Header) {
				t.Errorf("the provider's verifier refuses the re-signed body: %v", got.Header)
			}
			if p.accepts(t, body, p.secret, got.Header) {
				t.Error("the forwarded signature still signs the original bytes")
			}
		})
	}
}
