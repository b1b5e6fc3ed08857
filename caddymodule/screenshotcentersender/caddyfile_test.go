package screenshotcentersender

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`screenshotcenter_sender {
		endpoint https://a.example/hook {
			secret {env.A}
			events screenshot.finished batch.finished
		}
		endpoint https://b.example/hook {
			secret {file./run/secrets/b}
		}
		store /var/lib/scgate/outbox.db
		workers 16
		per_endpoint 2
		attempts 7
		backoff 1s 1m
		timeout 5s
		retain 30d
		max_body 64KiB
		allow 10.1.2.0/24 fd00::/8
		allowed_hosts sidecar.internal 10.0.0.7
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Endpoints) != 2 || h.Endpoints[0].Secret != "{env.A}" || len(h.Endpoints[0].Events) != 2 ||
		h.Store != "/var/lib/scgate/outbox.db" || h.Workers != 16 || h.PerEndpoint != 2 || h.Attempts != 7 ||
		len(h.Backoff) != 2 || h.Backoff[1] != caddy.Duration(time.Minute) || h.Timeout != caddy.Duration(5*time.Second) ||
		h.Retain != caddy.Duration(30*24*time.Hour) ||
		h.MaxBody != 64<<10 || len(h.Allow) != 2 || h.AllowPrivate || len(h.AllowedHosts) != 2 {
		t.Fatalf("parsed %+v", h)
	}
	if _, err := h.check(); err == nil || !strings.Contains(err.Error(), "secret is empty") {
		t.Fatalf("check before provision = %v, want the unresolved secret reported", err)
	}
	// What the parser refuses: malformed tokens, wrong argument counts,
	// and an explicit 0, which the JSON config cannot hold.
	bad := map[string]string{
		"arg":             `screenshotcenter_sender x`,
		"unknown":         `screenshotcenter_sender { nope }`,
		"endpoint no url": "screenshotcenter_sender {\nendpoint\n}",
		"two secrets": `screenshotcenter_sender { endpoint http://x/ { secret a
secret b } }`,
		"endpoint unknown":   `screenshotcenter_sender { endpoint http://x/ { foo } }`,
		"workers":            `screenshotcenter_sender { workers 0 }`,
		"attempts":           `screenshotcenter_sender { attempts x }`,
		"backoff":            `screenshotcenter_sender { backoff soon }`,
		"timeout":            `screenshotcenter_sender { timeout }`,
		"max_body":           `screenshotcenter_sender { max_body lots }`,
		"max_body zero":      `screenshotcenter_sender { max_body 0 }`,
		"retain missing":     `screenshotcenter_sender { retain }`,
		"retain zero":        `screenshotcenter_sender { retain 0s }`,
		"retain garbage":     `screenshotcenter_sender { retain soon }`,
		"retain two":         `screenshotcenter_sender { retain 1h 2h }`,
		"allow_private":      `screenshotcenter_sender { allow_private yes }`,
		"allow no prefix":    "screenshotcenter_sender {\nallow\n}",
		"allowed_hosts none": "screenshotcenter_sender {\nallowed_hosts\n}",
	}
	for name, in := range bad {
		if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
