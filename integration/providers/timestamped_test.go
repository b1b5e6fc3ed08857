package providers_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// timestamped is one of the README's providers that sign a timestamp
// (Standard Webhooks, Slack, Discord), with its provider's own code: sign
// makes the headers the provider sends with body at time at, accepts is
// its verifier.
type timestamped struct {
	scheme, path string
	// body is an event, fresh another one.
	body, fresh []byte
	// signingSecret is what `scgate sign` and `send` are given: the
	// gateway's secret, or for Discord the private key of its public key.
	signingSecret string
	sign          func(t *testing.T, body []byte, at time.Time) http.Header
	accepts       func(body []byte, h http.Header) bool
}

func timestampedProviders(t *testing.T) []timestamped {
	t.Helper()
	env := map[string]string{}
	for _, kv := range secretEnv {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	clerk, err := standardwebhooks.NewWebhook(env["CLERK_WEBHOOK_SECRET"])
	if err != nil {
		t.Fatal(err)
	}
	slackSecret := env["SLACK_SIGNING_SECRET"]
	// The DISCORD_PUBLIC_KEY of secretEnv is this key's.
	discordKey := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	unix := func(at time.Time) string { return strconv.FormatInt(at.Unix(), 10) }
	return []timestamped{
		{
			// standard-webhooks' own Go library signs and verifies; a retry
			// carries the same webhook-id.
			scheme: "standard", path: "/webhooks/clerk",
			body:          []byte(`{"type":"user.created","data":{"id":"user_2a"}}`),
			fresh:         []byte(`{"type":"user.created","data":{"id":"user_3b"}}`),
			signingSecret: env["CLERK_WEBHOOK_SECRET"],
			sign: func(t *testing.T, body []byte, at time.Time) http.Header {
				sig, err := clerk.Sign("msg_2a", at, body)
				if err != nil {
					t.Fatal(err)
				}
				return http.Header{"Webhook-Id": {"msg_2a"}, "Webhook-Timestamp": {unix(at)}, "Webhook-Signature": {sig}}
			},
			accepts: func(body []byte, h http.Header) bool { return clerk.Verify(body, h) == nil },
		},
		{
			// Slack's documented recipe signs (slack-go only verifies):
			// v0= HMAC-SHA256 of v0:<timestamp>:<body>.
			scheme: "slack", path: "/webhooks/slack",
			body:          []byte(`{"type":"event_callback","event_id":"Ev2a","event":{"type":"app_mention","text":"hi"}}`),
			fresh:         []byte(`{"type":"event_callback","event_id":"Ev3b","event":{"type":"app_mention","text":"hi"}}`),
			signingSecret: slackSecret,
			sign: func(_ *testing.T, body []byte, at time.Time) http.Header {
				mac := hmac.New(sha256.New, []byte(slackSecret))
				mac.Write([]byte("v0:" + unix(at) + ":"))
				mac.Write(body)
				return http.Header{"X-Slack-Request-Timestamp": {unix(at)}, "X-Slack-Signature": {"v0=" + hex.EncodeToString(mac.Sum(nil))}}
			},
			accepts: func(body []byte, h http.Header) bool {
				sv, err := slack.NewSecretsVerifier(h, slackSecret)
				if err != nil {
					return false
				}
				sv.Write(body)
				return sv.Ensure() == nil
			},
		},
		{
			// Discord signs with Ed25519 over the timestamp and the body;
			// its documentation verifies with crypto/ed25519's equivalent.
			scheme: "discord", path: "/interactions/discord",
			body:          []byte(`{"type":2,"id":"1234567890123456789","data":{"name":"ping"}}`),
			fresh:         []byte(`{"type":2,"id":"1234567890123456790","data":{"name":"ping"}}`),
			signingSecret: hex.EncodeToString(discordKey),
			sign: func(_ *testing.T, body []byte, at time.Time) http.Header {
				sig := ed25519.Sign(discordKey, append([]byte(unix(at)), body...))
				return http.Header{"X-Signature-Ed25519": {hex.EncodeToString(sig)}, "X-Signature-Timestamp": {unix(at)}}
			},
			accepts: func(body []byte, h http.Header) bool {
				sig, err := hex.DecodeString(h.Get("X-Signature-Ed25519"))
				return err == nil && ed25519.Verify(discordKey.Public().(ed25519.PublicKey), append([]byte(h.Get("X-Signature-Timestamp")), body...), sig)
			},
		},
	}
}

// The README's Standard Webhooks, Slack and Discord blocks, through the
// built binary, with the providers' own code: a signed request reaches the
// upstream once with its signature, which the provider's verifier accepts
// there; the retry, signed anew seconds later, is a duplicate; what
// `scgate sign --scheme` prints is accepted by that verifier, and `scgate
// send --scheme` delivers through the gateway.
func TestTimestampedProvidersThroughTheReadme(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gw := startGateway(t, up)
	for _, p := range timestampedProviders(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up.Reset()
			now := time.Now()
			first := p.sign(t, p.body, now.Add(-3*time.Second))
			if a := post(t, gw.URL+p.path, p.body, first); a.status != http.StatusOK || a.outcome != "" {
				t.Fatalf("signed by the provider's code: %+v, want forwarded", a)
			}
			reqs := up.Requests()
			if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, p.body) {
				t.Fatalf("upstream got %d requests, want the body once", len(reqs))
			}
			if !p.accepts(reqs[0].Body, reqs[0].Header) {
				t.Errorf("the provider's verifier refuses what the upstream got: %v", reqs[0].Header)
			}
			if a := post(t, gw.URL+p.path, p.body, p.sign(t, p.body, now)); a.status != http.StatusOK || a.outcome != "duplicate" {
				t.Errorf("the retry signed anew: %+v, want a duplicate", a)
			}

			// scgate sign and send, with a new event.
			up.Reset()
			body := p.fresh
			file := filepath.Join(t.TempDir(), "body.json")
			if err := os.WriteFile(file, body, 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := gatewaytest.Run(t, nil, "sign", "--scheme", p.scheme, "--secret", p.signingSecret, "--data", file)
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
			if !p.accepts(body, h) {
				t.Errorf("the provider's verifier refuses scgate sign's %v", h)
			}
			args := []string{"send", "--scheme", p.scheme, "--url", gw.URL + p.path, "--secret", p.signingSecret, "--data", file, "--allow-private", "--attempts", "1"}
			if stdout, stderr, code := gatewaytest.Run(t, nil, args...); code != 0 {
				t.Fatalf("scgate send --scheme %s: exit %d:\n%s%s", p.scheme, code, stdout, stderr)
			}
			reqs = up.Requests()
			if len(reqs) != 1 || !bytes.Equal(reqs[0].Body, body) {
				t.Fatalf("upstream got %d requests after scgate send, want the body once", len(reqs))
			}
			if !p.accepts(body, reqs[0].Header) {
				t.Errorf("the provider's verifier refuses what scgate send sent: %v", reqs[0].Header)
			}
		})
	}
}
