package screenshotcenterwebhook

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every config rule holds for JSON configs exactly as for the Caddyfile:
// each row is loaded both ways (Caddyfile: parse, then provision; JSON:
// unmarshal, then provision) and must fail with the same error. The
// Caddyfile parser only parses; the rules live in config.go.
func TestConfigRules(t *testing.T) {
	tests := []struct {
		name string
		// caddyfile is the body of a screenshotcenter_webhook block; "" when
		// the Caddyfile cannot express the config (it refuses it as syntax).
		caddyfile string
		json      string
		wantErr   string
	}{
		{"no secret", "events screenshot.finished", `{"events":["screenshot.finished"]}`, "at least one secret is required"},
		{"negative max_body", "", `{"secrets":["s"],"max_body":-1}`, "max_body must be positive"},
		{"negative max_age", "secret s\nmax_age -5m", `{"secrets":["s"],"max_age":-300000000000}`, "max_age must not be negative"},
		{"blank signature header", "secret s\nsignature_header \" \"", `{"secrets":["s"],"signature_headers":[" "]}`, "signature_header names must not be empty"},
		{"empty event name", "secret s\nevents \"\"", `{"secrets":["s"],"events":[""]}`, "events must not contain an empty name"},
		{"unknown backend", "secret s\ndedupe bogus", `{"secrets":["s"],"dedupe":{"backend":"bogus"}}`, `unknown dedupe backend "bogus"`},
		{"dedupe off with a ttl", "secret s\ndedupe off {\nttl 1h\n}", `{"secrets":["s"],"dedupe":{"backend":"off","ttl":3600000000000}}`, "dedupe off takes no other dedupe settings"},
		{"dedupe off with a key", "secret s\ndedupe off {\nkey {event}\n}", `{"secrets":["s"],"dedupe":{"backend":"off","key":"{event}"}}`, "dedupe off takes no other dedupe settings"},
		{"dedupe off with persist", "secret s\ndedupe off {\npersist /tmp/x\n}", `{"secrets":["s"],"dedupe":{"backend":"off","persist":"/tmp/x"}}`, "dedupe off takes no other dedupe settings"},
		{"negative ttl", "secret s\ndedupe {\nttl -1h\n}", `{"secrets":["s"],"dedupe":{"ttl":-1}}`, "ttl and inflight_timeout must be positive"},
		{"negative inflight_timeout", "secret s\ndedupe {\ninflight_timeout -1s\n}", `{"secrets":["s"],"dedupe":{"inflight_timeout":-1}}`, "ttl and inflight_timeout must be positive"},
		{"negative max_keys", "secret s\ndedupe {\nmax_keys -10\n}", `{"secrets":["s"],"dedupe":{"max_keys":-10}}`, "max_keys must be positive"},
		// A constant key would make every event a duplicate of the first.
		{"key without a placeholder", "secret s\ndedupe {\nkey constant\n}", `{"secrets":["s"],"dedupe":{"key":"constant"}}`, "key template must contain a placeholder"},
		{"bad on_error", "secret s\ndedupe {\non_error maybe\n}", `{"secrets":["s"],"dedupe":{"on_error":"maybe"}}`, "on_error must be closed or open"},
		{"redis option on memory", "secret s\ndedupe memory {\nurl redis://x:1\n}", `{"secrets":["s"],"dedupe":{"backend":"memory","redis":{"url":"redis://x:1"}}}`, "redis settings apply to the redis backend, not memory"},
		{"redis option without a backend", "secret s\ndedupe {\naddresses x:1\n}", `{"secrets":["s"],"dedupe":{"redis":{"addresses":["x:1"]}}}`, "redis settings apply to the redis backend, not memory"},
		{"persist on redis", "secret s\ndedupe redis {\nurl redis://a:1\npersist f\n}", `{"secrets":["s"],"dedupe":{"backend":"redis","persist":"f","redis":{"url":"redis://a:1"}}}`, "persist applies to the memory backend, not redis"},
		{"max_keys on redis", "secret s\ndedupe redis {\nurl redis://a:1\nmax_keys 10\n}", `{"secrets":["s"],"dedupe":{"backend":"redis","max_keys":10,"redis":{"url":"redis://a:1"}}}`, "max_keys applies to the memory backend, not redis"},
		{"negative persist_interval", "secret s\ndedupe memory {\npersist f\npersist_interval -1s\n}", `{"secrets":["s"],"dedupe":{"persist":"f","persist_interval":-1}}`, "persist_interval must be positive"},
		{"persist_interval without persist", "secret s\ndedupe {\npersist_interval 1s\n}", `{"secrets":["s"],"dedupe":{"persist_interval":1000000000}}`, "persist_interval needs persist"},
		{"redis without a server", "secret s\ndedupe redis", `{"secrets":["s"],"dedupe":{"backend":"redis"}}`, "needs url or addresses"},
		{"master_name without addresses", "secret s\ndedupe redis {\nurl redis://a:1\nmaster_name m\n}", `{"secrets":["s"],"dedupe":{"backend":"redis","redis":{"url":"redis://a:1","master_name":"m"}}}`, "master_name needs addresses"},
		{"negative redis timeout", "secret s\ndedupe redis {\nurl redis://a:1\ntimeout -1s\n}", `{"secrets":["s"],"dedupe":{"backend":"redis","redis":{"url":"redis://a:1","timeout":-1}}}`, "redis timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fromJSON Handler
			if err := json.Unmarshal([]byte(tt.json), &fromJSON); err != nil {
				t.Fatal(err)
			}
			loads := map[string]*Handler{"json": &fromJSON}
			if tt.caddyfile != "" {
				h, err := parse(t, "screenshotcenter_webhook {\n"+tt.caddyfile+"\n}")
				if err != nil {
					t.Fatalf("Caddyfile: parse error %v; the parser must leave rules to provisioning", err)
				}
				loads["caddyfile"] = h
			}
			for how, h := range loads {
				err := provision(t, h)
				if err == nil {
					t.Fatalf("%s: config accepted, want %q", how, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s: error %q does not contain %q", how, err, tt.wantErr)
				}
			}
		})
	}
}

// Secrets are resolved by secret.Resolve (its table has every case); here,
// that the handler uses it and says which secret is wrong.
func TestProvisionSecretErrors(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		wantErr string
	}{
		{"unset variable", []string{"{env.SCGATE_TEST_UNSET_VAR}"}, "secret 0 is empty: environment variable SCGATE_TEST_UNSET_VAR is unset or empty"},
		{"second secret partly from a missing file", []string{"ok", "pre-{file./nonexistent/scgate-secret}"}, "secret 1 is empty: file /nonexistent/scgate-secret is missing"},
		{"mistyped placeholder", []string{"{evn.SCGATE_TEST_SECRET}"}, "secret 0 has an unknown placeholder {evn.SCGATE_TEST_SECRET}"},
		{"stray closing brace", []string{"ok", "abc}"}, "secret 1 has an unmatched brace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provision(t, &Handler{Secrets: tt.secrets})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("provision = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
