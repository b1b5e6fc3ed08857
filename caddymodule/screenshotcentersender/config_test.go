package screenshotcentersender

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCheck(t *testing.T) {
	ep := func(url string) *Endpoint {
		return &Endpoint{URL: url, Secret: "sidecar-test-secret", secret: []byte("sidecar-test-secret")}
	}
	cases := map[string]*Handler{
		"no endpoints":  {},
		"bad url":       {Endpoints: []*Endpoint{ep("ftp://x/")}},
		"nil endpoint":  {Endpoints: []*Endpoint{nil}},
		"no secret":     {Endpoints: []*Endpoint{{URL: "http://x/"}}},
		"bad cidr":      {Endpoints: []*Endpoint{ep("http://x/")}, Allow: []string{"10/8"}},
		"neg workers":   {Endpoints: []*Endpoint{ep("http://x/")}, Workers: -1},
		"zero backoff":  {Endpoints: []*Endpoint{ep("http://x/")}, Backoff: []caddy.Duration{0}},
		"neg retain":    {Endpoints: []*Endpoint{ep("http://x/")}, Retain: -1},
		"huge max_body": {Endpoints: []*Endpoint{ep("http://x/")}, MaxBody: 2 << 40},
		"empty event":   {Endpoints: []*Endpoint{{URL: "http://x/", Secret: "sidecar-test-secret", secret: []byte("sidecar-test-secret"), Events: []string{""}}}},
	}
	for name, h := range cases {
		if _, err := h.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (&Handler{Endpoints: []*Endpoint{ep("http://x/")}}).check(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	// Cleanup on a never-provisioned handler is a no-op, twice.
	h := new(Handler)
	if h.Cleanup() != nil || h.Cleanup() != nil {
		t.Error("Cleanup failed on an empty handler")
	}
}

// Every rule holds for a JSON config exactly as for the Caddyfile: the same
// setting, written either way, is refused by the one check with the same
// error (the Caddyfile parser only parses).
func TestRulesHoldForJSON(t *testing.T) {
	const endpoint = `endpoint http://127.0.0.1:9/ {
			secret sidecar-test-secret
		}`
	const jsonEndpoint = `"endpoints": [{"url": "http://127.0.0.1:9/", "secret": "sidecar-test-secret"}]`
	tests := []struct {
		name, caddyfile, json, want string
	}{
		{"negative workers", "workers -1", `"workers": -1`, "must be positive"},
		{"negative attempts", "attempts -3", `"attempts": -3`, "must be positive"},
		{"negative backoff", "backoff 1s -1s", `"backoff": [1000000000, -1000000000]`, "backoff durations must be positive"},
		{"negative timeout", "timeout -1s", `"timeout": -1000000000`, "must be positive"},
		{"negative retain", "retain -1h", `"retain": "-1h"`, "must be positive"},
		{"max_body over 1 TiB", "max_body 2TiB", `"max_body": 2199023255552`, "max_body must be between"},
		{"bad allow prefix", "allow 10/8", `"allow": ["10/8"]`, "allowlist entry"},
		{"empty event name", "", `"endpoints": [{"url": "http://127.0.0.1:9/", "secret": "sidecar-test-secret", "events": [""]}]`, "empty name"},
		{"bad url", "", `"endpoints": [{"url": "ftp://x/", "secret": "sidecar-test-secret"}]`, "absolute http"},
		{"allowed host with a port", "allowed_hosts sidecar.internal:8081", `"allowed_hosts": ["sidecar.internal:8081"]`, "allowed_hosts"},
		{"allowed host with a scheme", "allowed_hosts http://sidecar.internal", `"allowed_hosts": ["http://sidecar.internal"]`, "allowed_hosts"},
		{"allowed host wildcard", "allowed_hosts *.internal", `"allowed_hosts": ["*.internal"]`, "allowed_hosts"},
		{"store placeholder typo", "store /tmp/{evn.SNAP}/outbox.db", `"store": "/tmp/{evn.SNAP}/outbox.db"`, "store has an unknown placeholder {evn.SNAP}"},
		{"unknown scheme", "scheme paypal", `"scheme": "paypal"`, `scheme must be one of `},
		{"a shared secret for scheme stripe", "scheme stripe", `"scheme": "stripe"`, "endpoint 0: secret is not a Stripe webhook signing secret"},
		// A public key verifies but cannot sign: the deliveries would go out unsigned.
		{"a Discord public key", "", `"scheme": "discord", "endpoints": [{"url": "http://127.0.0.1:9/", "secret": "abababababababababababababababababababababababababababababababab"}]`, "endpoint 0: secret is a public key, which cannot sign"},
		{"a Standard Webhooks public key", "", `"scheme": "standard", "endpoints": [{"url": "http://127.0.0.1:9/", "secret": "whpk_q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="}]`, "endpoint 0: secret is a public key, which cannot sign"},
		{"store variable unset", "store {env.SCGATE_TEST_UNSET_STORE}", `"store": "{env.SCGATE_TEST_UNSET_STORE}"`, "store is empty: environment variable SCGATE_TEST_UNSET_STORE is unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []error
			if tt.caddyfile != "" {
				h := new(Handler)
				in := "screenshotcenter_sender {\n" + endpoint + "\n" + tt.caddyfile + "\n}"
				if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
					t.Fatalf("the Caddyfile parser refused %q: %v (it must only parse)", tt.caddyfile, err)
				}
				errs = append(errs, h.prepare())
			}
			js := tt.json
			if !strings.Contains(js, `"endpoints"`) {
				js = jsonEndpoint + ", " + js
			}
			h := new(Handler)
			if err := json.Unmarshal([]byte("{"+js+"}"), h); err != nil {
				t.Fatal(err)
			}
			errs = append(errs, h.prepare())
			for i, err := range errs {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("config %d: %v, want an error with %q", i, err, tt.want)
				}
			}
			if len(errs) == 2 && errs[0] != nil && errs[1] != nil && errs[0].Error() != errs[1].Error() {
				t.Errorf("Caddyfile and JSON errors differ: %q vs %q", errs[0], errs[1])
			}
		})
	}
}
