package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/scheme"
)

// providerSite is one webhook_gateway handler of a provider's scheme in
// front of upstream.
const providerSite = `http://127.0.0.1:{{HTTP_PORT}} {
	webhook_gateway {
		scheme {{SCHEME}}
		secret {{SECRET}}
	}
	reverse_proxy {{UPSTREAM}}
}
`

// timestampedProvider is a scheme that signs a timestamp, with how its
// provider signs a request as of a time.
type timestampedProvider struct {
	scheme string
	secret string
	// sign returns the headers that sign body as of at, as the provider
	// does; with other, under a secret the gateway does not have.
	sign func(t *testing.T, body []byte, at time.Time, other bool) http.Header
	// event returns a new event's body (and what identifies it).
	event func(t *testing.T) []byte
}

func timestampedProviders(t *testing.T) []timestampedProvider {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherWhsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-endpoint-secret-0123456"))
	const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	slackSigner := func(secret string) scheme.Scheme {
		s, err := scheme.New(scheme.Slack, scheme.Config{Secrets: [][]byte{[]byte(secret)}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ids := map[string]string{} // a body's webhook-id: one per event, as Svix keeps it on retries
	return []timestampedProvider{
		{
			scheme: scheme.Standard, secret: whsec,
			// svix-go, with the svix- headers Svix and Clerk send.
			sign: func(t *testing.T, body []byte, at time.Time, other bool) http.Header {
				secret := whsec
				if other {
					secret = otherWhsec
				}
				wh, err := svix.NewWebhook(secret)
				if err != nil {
					t.Fatal(err)
				}
				id := ids[string(body)]
				sig, err := wh.Sign(id, at, body)
				if err != nil {
					t.Fatal(err)
				}
				return http.Header{"Svix-Id": {id}, "Svix-Timestamp": {strconv.FormatInt(at.Unix(), 10)}, "Svix-Signature": {sig},
					"Content-Type": {"application/json"}}
			},
			event: func(t *testing.T) []byte {
				body := []byte(`{"type":"user.created","data":{"id":"user_` + uid(t) + `"}}`)
				ids[string(body)] = "msg_" + uid(t)
				return body
			},
		},
		{
			// Slack's signature is the gateway's own Sign here (slack-go
			// only verifies; scheme/slack_test.go checks that it accepts
			// these, and that Slack's published request verifies).
			scheme: scheme.Slack, secret: slackSecret,
			sign: func(t *testing.T, body []byte, at time.Time, other bool) http.Header {
				secret := slackSecret
				if other {
					secret = "e6b19c573432dcc6b075501d51b51bb8"
				}
				h := http.Header{"Content-Type": {"application/json"}, "X-Slack-Request-Timestamp": {strconv.FormatInt(at.Unix(), 10)}}
				slackSigner(secret).Sign(h, 0, body, at)
				return h
			},
			event: func(t *testing.T) []byte {
				return []byte(`{"type":"event_callback","event_id":"Ev` + uid(t) + `","event":{"type":"app_mention","text":"hi"}}`)
			},
		},
		{
			// Discord signs with Ed25519 over the timestamp and the body:
			// Go's crypto/ed25519, verified with the public key.
			scheme: scheme.Discord, secret: hex.EncodeToString(pub),
			sign: func(t *testing.T, body []byte, at time.Time, other bool) http.Header {
				key := priv
				if other {
					key = otherPriv
				}
				ts := strconv.FormatInt(at.Unix(), 10)
				sig := ed25519.Sign(key, append([]byte(ts), body...))
				return http.Header{"X-Signature-Ed25519": {hex.EncodeToString(sig)}, "X-Signature-Timestamp": {ts},
					"Content-Type": {"application/json"}}
			},
			event: func(t *testing.T) []byte {
				return []byte(`{"type":2,"id":"` + strings.ReplaceAll(uid(t), "-", "") + `","data":{"name":"ping"}}`)
			},
		},
	}
}

// A provider's signed request goes through the gateway; the provider's
// retry, signed anew a few seconds later, is a duplicate and is not
// forwarded; a tampered body, another secret and a timestamp 10 minutes
// old are 401 with their reasons.
func TestTimestampedProvidersThroughTheGateway(t *testing.T) {
	for _, p := range timestampedProviders(t) {
		t.Run(p.scheme, func(t *testing.T) {
			up := gatewaytest.NewUpstream(t)
			load(t, config(providerSite, "UPSTREAM", up.Addr, "SCHEME", p.scheme, "SECRET", p.secret))
			send := func(body []byte, h http.Header) result {
				req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/", strings.NewReader(string(body)))
				if err != nil {
					t.Fatal(err)
				}
				req.Header = h
				return do(t, req)
			}
			now := time.Now()
			body := p.event(t)
			expect(t, "the delivery", send(body, p.sign(t, body, now.Add(-3*time.Second), false)), 200, "")
			if up.Count() != 1 || up.Requests()[0].Header.Get("X-Scgate-Verified") != "true" {
				t.Fatalf("upstream got %d requests", up.Count())
			}
			expect(t, "the retry signed anew", send(body, p.sign(t, body, now, false)), 200, "duplicate")
			if up.Count() != 1 {
				t.Fatalf("the retry was forwarded: upstream got %d requests", up.Count())
			}
			for _, tt := range []struct {
				name   string
				body   []byte
				h      http.Header
				reason string
			}{
				{"tampered body", []byte(strings.Replace(string(body), "}", ` }`, 1)), p.sign(t, body, now, false), "signature_mismatch"},
				{"another secret", body, p.sign(t, body, now, true), "signature_mismatch"},
				{"10 minutes old", body, p.sign(t, body, now.Add(-10*time.Minute), false), "timestamp_too_old"},
			} {
				got := send(tt.body, tt.h)
				if got.Status != http.StatusUnauthorized || got.Reason() != tt.reason {
					t.Errorf("%s: %d %q, want 401 %s", tt.name, got.Status, got.Reason(), tt.reason)
				}
			}
			if up.Count() != 1 {
				t.Errorf("a refused request was forwarded: upstream got %d requests", up.Count())
			}
		})
	}
}
