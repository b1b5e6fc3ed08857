package screenshotcenterwebhook

import (
	"encoding/json"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scgate/scgate/dedupe"
)

func TestProvisionDefaults(t *testing.T) {
	h, err := parse(t, "screenshotcenter_webhook {\nsecret test-secret-0123456789\n}")
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	want := DedupeConfig{
		Backend:         BackendMemory,
		TTL:             caddy.Duration(DefaultTTL),
		InflightTimeout: caddy.Duration(DefaultInflightTimeout),
		MaxKeys:         dedupe.DefaultMaxKeys,
		EvictWarnAge:    caddy.Duration(DefaultEvictWarnAge),
	}
	if *h.Dedupe != want {
		t.Errorf("dedupe defaults = %+v, want %+v", *h.Dedupe, want)
	}
	if !reflect.DeepEqual(h.SignatureHeaders, []string{"X-ScreenshotCenter-Signature", "X-Signature"}) {
		t.Errorf("signature headers = %v", h.SignatureHeaders)
	}
	if h.MaxBody != 1<<20 {
		t.Errorf("max_body = %d, want 1 MiB", h.MaxBody)
	}
	if h.MaxBuffered != 64<<20 || h.MaxBufferedPerClient != 4<<20 || h.BodyMinRate != 16<<10 || h.MaxStreamsPerConnection != 16 {
		t.Errorf("max_buffered %d, max_buffered_per_client %d, body_min_rate %d, max_streams_per_connection %d; want 64 MiB, 4 MiB, 16 KiB, 16",
			h.MaxBuffered, h.MaxBufferedPerClient, h.BodyMinRate, h.MaxStreamsPerConnection)
	}
	if h.MaxAge != 0 || h.store == nil {
		t.Errorf("max_age = %v, store = %v; want no replay window and a store", h.MaxAge, h.store)
	}
	// No allowlist and no replay window: any signed event without
	// created_at is forwarded.
	if got := serve(t, h, testSecret, `{"event":"anything.else","screenshot_id":1}`); got != "forwarded" {
		t.Errorf("signed event without created_at: %s, want forwarded", got)
	}
}

func TestProvisionKeepsExplicitValues(t *testing.T) {
	h, err := parse(t, `screenshotcenter_webhook {
		secret secret-a-0123456789 secret-b-0123456789
		signature_header X-Sig
		max_body 4KiB
		events screenshot.finished
		max_age 10m
		dedupe memory {
			ttl 1h
			inflight_timeout 5s
			max_keys 10
			key {event}:{body_sha256}
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if h.MaxBody != 4096 || h.MaxAge != caddy.Duration(10*time.Minute) || h.Dedupe.TTL != caddy.Duration(time.Hour) ||
		h.Dedupe.InflightTimeout != caddy.Duration(5*time.Second) || h.Dedupe.MaxKeys != 10 {
		t.Errorf("explicit values changed by Provision: %+v %+v", h, h.Dedupe)
	}
	if h.keyer.Template == nil {
		t.Error("the key template was not parsed")
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, tc := range []struct{ secret, body, want string }{
		{"secret-a-0123456789", `{"event":"screenshot.finished","screenshot_id":1,"created_at":"` + now + `"}`, "forwarded"},
		{"secret-b-0123456789", `{"event":"screenshot.finished","screenshot_id":2,"created_at":"` + now + `"}`, "forwarded"},
		{"secret-c-0123456789", `{"event":"screenshot.finished","screenshot_id":3,"created_at":"` + now + `"}`, "status 401"},
		{"secret-a-0123456789", `{"event":"batch.finished","batch_id":1,"created_at":"` + now + `"}`, "ignored"},
		{"secret-a-0123456789", `{"event":"screenshot.finished","screenshot_id":4}`, "status 401"},
	} {
		if got := serve(t, h, tc.secret, tc.body); got != tc.want {
			t.Errorf("secret %s, body %s: %s, want %s", tc.secret, tc.body, got, tc.want)
		}
	}
}

func TestProvisionDedupeOffHasNoStore(t *testing.T) {
	h, err := parse(t, "screenshotcenter_webhook {\nsecret test-secret-0123456789\ndedupe off\n}")
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if h.store != nil || h.poolKey != "" {
		t.Errorf("dedupe off still got a store (%q)", h.poolKey)
	}
}

func TestProvisionResolvesSecretFromEnv(t *testing.T) {
	t.Setenv("SCGATE_TEST_SECRET", "from-env-0123456789")
	h, err := parse(t, "screenshotcenter_webhook {\nsecret {env.SCGATE_TEST_SECRET}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if h.Secrets[0] != "{env.SCGATE_TEST_SECRET}" {
		t.Errorf("config secret was rewritten to %q; the placeholder must stay", h.Secrets[0])
	}
	if got := serve(t, h, "from-env-0123456789", `{"event":"x","screenshot_id":"env"}`); got != "forwarded" {
		t.Errorf("event signed with the env secret: %s, want forwarded", got)
	}
	if got := serve(t, h, "{env.SCGATE_TEST_SECRET}", `{"event":"x","screenshot_id":"literal"}`); got != "status 401" {
		t.Errorf("event signed with the placeholder text: %s, want status 401", got)
	}
}

func TestProvisionStoreErrors(t *testing.T) {
	t.Setenv("SCGATE_TEST_EMPTY", "")
	tests := []struct{ name, dedupe, wantErr string }{
		{"redis without server", `{"backend":"redis"}`, "needs url or addresses"},
		{"url and addresses", `{"backend":"redis","redis":{"url":"redis://a:1","addresses":["b:1"]}}`, "not both"},
		{"bad address", `{"backend":"redis","redis":{"addresses":["nohostport"]}}`, "not host:port"},
		{"password in url not shown", `{"backend":"redis","redis":{"url":"redis://u:hunter2@bad host/0"}}`, "url is invalid"},
		{"bad scheme", `{"backend":"redis","redis":{"url":"http://x:1"}}`, "url is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{Secrets: []string{testSecret}}
			if err := json.Unmarshal([]byte(tt.dedupe), &h.Dedupe); err != nil {
				t.Fatal(err)
			}
			err := provision(t, h)
			if err == nil {
				t.Fatalf("provisioned without error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

// A literal brace in a secret is written \{ and resolves to the brace.
func TestSecretWithEscapedBraces(t *testing.T) {
	h := &Handler{Secrets: []string{`literal-\{brace\}-secret`}, Dedupe: &DedupeConfig{Backend: BackendOff}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":"sc_escaped"}`
	if got := serve(t, h, "literal-{brace}-secret", body); got != "forwarded" {
		t.Fatalf("signed with the literal secret: %s", got)
	}
}

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
		{"negative max_body", "", `{"secrets":["test-secret-0123456789"],"max_body":-1}`, "max_body must be positive"},
		{"negative body_timeout", "secret test-secret-0123456789\nbody_timeout -1s", `{"secrets":["test-secret-0123456789"],"body_timeout":-1}`, "body_timeout must be positive"},
		{"max_buffered below max_body", "secret test-secret-0123456789\nmax_body 2MiB\nmax_buffered 1MiB", `{"secrets":["test-secret-0123456789"],"max_body":2097152,"max_buffered":1048576}`, "max_buffered (1048576) must be at least max_body (2097152)"},
		{"negative body_min_rate", "", `{"secrets":["test-secret-0123456789"],"body_min_rate":-1}`, "body_min_rate must be positive"},
		{"negative max_buffered_per_client", "", `{"secrets":["test-secret-0123456789"],"max_buffered_per_client":-1}`, "max_buffered_per_client must be positive"},
		{"max_buffered_per_client below max_body", "secret test-secret-0123456789\nmax_buffered_per_client 512KiB", `{"secrets":["test-secret-0123456789"],"max_buffered_per_client":524288}`, "max_buffered_per_client (524288) must be at least max_body (1048576)"},
		{"max_buffered_per_client over max_buffered", "secret test-secret-0123456789\nmax_buffered 8MiB\nmax_buffered_per_client 16MiB", `{"secrets":["test-secret-0123456789"],"max_buffered":8388608,"max_buffered_per_client":16777216}`, "max_buffered_per_client (16777216) must be at most max_buffered (8388608)"},
		{"max_buffered_per_client over the default max_buffered", "secret test-secret-0123456789\nmax_buffered_per_client 128MiB", `{"secrets":["test-secret-0123456789"],"max_buffered_per_client":134217728}`, "max_buffered_per_client (134217728) must be at most max_buffered (67108864)"},
		{"negative max_streams_per_connection", "secret test-secret-0123456789\nmax_streams_per_connection -1", `{"secrets":["test-secret-0123456789"],"max_streams_per_connection":-1}`, "max_streams_per_connection must be positive"},
		{"negative max_age", "secret test-secret-0123456789\nmax_age -5m", `{"secrets":["test-secret-0123456789"],"max_age":-300000000000}`, "max_age must not be negative"},
		{"blank signature header", "secret test-secret-0123456789\nsignature_header \" \"", `{"secrets":["test-secret-0123456789"],"signature_headers":[" "]}`, "signature_header names must not be empty"},
		{"empty event name", "secret test-secret-0123456789\nevents \"\"", `{"secrets":["test-secret-0123456789"],"events":[""]}`, "events must not contain an empty name"},
		{"negative event_log", "secret test-secret-0123456789\nevent_log -2", `{"secrets":["test-secret-0123456789"],"event_log":-2}`, "event_log must be between 1 and 1000000 entries, or off (-1), got -2"},
		{"event_log too large", "secret test-secret-0123456789\nevent_log 1000001", `{"secrets":["test-secret-0123456789"],"event_log":1000001}`, "event_log must be between 1 and 1000000 entries, or off (-1), got 1000001"},
		{"unknown scheme", "secret test-secret-0123456789\nscheme paypal", `{"secrets":["test-secret-0123456789"],"scheme":"paypal"}`, `scheme must be one of `},
		{"signature_header with scheme github", "scheme github\nsecret test-secret-0123456789\nsignature_header X-Sig", `{"scheme":"github","secrets":["test-secret-0123456789"],"signature_headers":["X-Sig"]}`, "signature_header applies to scheme screenshotcenter only"},
		{"max_age with scheme shopify", "scheme shopify\nsecret test-secret-0123456789\nmax_age 5m", `{"scheme":"shopify","secrets":["test-secret-0123456789"],"max_age":300000000000}`, "max_age: scheme shopify signs no timestamp"},
		{"stripe secret that is not whsec_", "scheme stripe\nsecret test-secret-0123456789", `{"scheme":"stripe","secrets":["test-secret-0123456789"]}`, "secret 0 is not a Stripe webhook signing secret"},
		{"key template with a field github does not sign", "scheme github\nsecret test-secret-0123456789\ndedupe {\nkey {event}\n}", `{"scheme":"github","secrets":["test-secret-0123456789"],"dedupe":{"key":"{event}"}}`, "placeholder {event} is not a signed field: use {body_sha256}"},
		// reencode signs the re-encoded body: a public key cannot.
		{"reencode with a Discord public key", "scheme discord\nsecret abababababababababababababababababababababababababababababababab\nreencode js", `{"scheme":"discord","secrets":["abababababababababababababababababababababababababababababababab"],"reencode":"js"}`, "reencode signs the re-encoded body, and secret 0 is a public key, which cannot sign"},
		{"reencode with a Standard Webhooks public key", "scheme standard\nsecret whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFi whpk_q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\nreencode php", `{"scheme":"standard","secrets":["whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OWFi","whpk_q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="],"reencode":"php"}`, "reencode signs the re-encoded body, and secret 1 is a public key, which cannot sign"},
		{"unknown mode", "secret test-secret-0123456789\nmode audit", `{"secrets":["test-secret-0123456789"],"mode":"audit"}`, `mode must be enforce or report, got "audit"`},
		{"unknown reencode style", "secret test-secret-0123456789\nreencode ruby", `{"secrets":["test-secret-0123456789"],"reencode":"ruby"}`, `reencode must be js, python or php, got "ruby"`},
		{"unknown backend", "secret test-secret-0123456789\ndedupe bogus", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"bogus"}}`, `unknown dedupe backend "bogus"`},
		{"dedupe off with a ttl", "secret test-secret-0123456789\ndedupe off {\nttl 1h\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"off","ttl":3600000000000}}`, "dedupe off takes no other dedupe settings"},
		{"dedupe off with a key", "secret test-secret-0123456789\ndedupe off {\nkey {event}\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"off","key":"{event}"}}`, "dedupe off takes no other dedupe settings"},
		{"dedupe off with persist", "secret test-secret-0123456789\ndedupe off {\npersist /tmp/x\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"off","persist":"/tmp/x"}}`, "dedupe off takes no other dedupe settings"},
		{"negative ttl", "secret test-secret-0123456789\ndedupe {\nttl -1h\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"ttl":-1}}`, "ttl and inflight_timeout must be positive"},
		{"negative inflight_timeout", "secret test-secret-0123456789\ndedupe {\ninflight_timeout -1s\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"inflight_timeout":-1}}`, "ttl and inflight_timeout must be positive"},
		{"negative max_keys", "secret test-secret-0123456789\ndedupe {\nmax_keys -10\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"max_keys":-10}}`, "max_keys must be positive"},
		// A constant key would make every event a duplicate of the first.
		{"key without a placeholder", "secret test-secret-0123456789\ndedupe {\nkey constant\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"key":"constant"}}`, "key template must contain a placeholder"},
		{"bad on_error", "secret test-secret-0123456789\ndedupe {\non_error maybe\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"on_error":"maybe"}}`, "on_error must be closed or open"},
		{"redis option on memory", "secret test-secret-0123456789\ndedupe memory {\nurl redis://x:1\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"memory","redis":{"url":"redis://x:1"}}}`, "redis settings apply to the redis backend, not memory"},
		{"redis option without a backend", "secret test-secret-0123456789\ndedupe {\naddresses x:1\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"redis":{"addresses":["x:1"]}}}`, "redis settings apply to the redis backend, not memory"},
		{"persist on redis", "secret test-secret-0123456789\ndedupe redis {\nurl redis://a:1\npersist f\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","persist":"f","redis":{"url":"redis://a:1"}}}`, "persist applies to the memory backend, not redis"},
		{"evict_warn_age on redis", "secret test-secret-0123456789\ndedupe redis {\nurl redis://a:1\nevict_warn_age 1h\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","evict_warn_age":3600000000000,"redis":{"url":"redis://a:1"}}}`, "evict_warn_age applies to the memory backend, not redis"},
		{"max_keys on redis", "secret test-secret-0123456789\ndedupe redis {\nurl redis://a:1\nmax_keys 10\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","max_keys":10,"redis":{"url":"redis://a:1"}}}`, "max_keys applies to the memory backend, not redis"},
		{"negative persist_interval", "secret test-secret-0123456789\ndedupe memory {\npersist f\npersist_interval -1s\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"persist":"f","persist_interval":-1}}`, "persist_interval must be positive"},
		{"persist_interval without persist", "secret test-secret-0123456789\ndedupe {\npersist_interval 1s\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"persist_interval":1000000000}}`, "persist_interval needs persist"},
		{"redis without a server", "secret test-secret-0123456789\ndedupe redis", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis"}}`, "needs url or addresses"},
		{"redis settings without a server", "", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","redis":{"timeout":1000000}}}`, "needs url or addresses"},
		{"master_name without addresses", "secret test-secret-0123456789\ndedupe redis {\nurl redis://a:1\nmaster_name m\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","redis":{"url":"redis://a:1","master_name":"m"}}}`, "master_name needs addresses"},
		{"negative redis timeout", "secret test-secret-0123456789\ndedupe redis {\nurl redis://a:1\ntimeout -1s\n}", `{"secrets":["test-secret-0123456789"],"dedupe":{"backend":"redis","redis":{"url":"redis://a:1","timeout":-1}}}`, "redis timeout must be positive"},
		{"inbox without deliver_to", "secret test-secret-0123456789\ninbox {\nattempts 3\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"attempts":3}}`, "inbox deliver_to is required"},
		{"inbox deliver_to not a URL", "secret test-secret-0123456789\ninbox {\ndeliver_to 127.0.0.1:9090\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"127.0.0.1:9090"}}`, `inbox deliver_to must be an absolute http or https URL, got "127.0.0.1:9090"`},
		{"inbox deliver_to from an unset variable", "secret test-secret-0123456789\ninbox {\ndeliver_to {env.SCGATE_TEST_UNSET_URL}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"{env.SCGATE_TEST_UNSET_URL}"}}`, "inbox deliver_to"},
		{"inbox with mode report", "secret test-secret-0123456789\nmode report\ninbox {\ndeliver_to http://127.0.0.1:9/\n}", `{"secrets":["test-secret-0123456789"],"mode":"report","inbox":{"deliver_to":"http://127.0.0.1:9/"}}`, "inbox cannot be used with mode report"},
		{"inbox rate without a unit", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nrate 50\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","rate":"50"}}`, `inbox rate must be a positive number of attempts per s, m or h, such as 50/s, got "50"`},
		{"inbox rate of zero", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nrate 0/s\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","rate":"0/s"}}`, "inbox rate must be a positive number"},
		{"inbox burst without rate", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nburst 5\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","burst":5}}`, "inbox burst needs rate"},
		{"inbox negative concurrency", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nconcurrency -1\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","concurrency":-1}}`, "inbox attempts, concurrency and burst must be positive"},
		{"inbox negative backoff", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackoff 1s -1s\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backoff":[1000000000,-1]}}`, "inbox backoff durations must be positive"},
		{"inbox negative retain", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nretain -1h\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","retain":-1}}`, "inbox timeout and retain must be positive"},
		{"inbox unknown backend", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend redis\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"redis"}}`, `inbox backend must be bolt or nats, got "redis"`},
		{"inbox store with backend nats", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nstore /tmp/x.db\nbackend nats nats://127.0.0.1:4222\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","store":"/tmp/x.db","backend":"nats","nats":{"url":"nats://127.0.0.1:4222"}}}`, "inbox store is the bbolt file: it cannot be used with backend nats"},
		{"inbox order_by with backend nats", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\norder_by {screenshot_id}\nbackend nats nats://127.0.0.1:4222\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","order_by":"{screenshot_id}","backend":"nats","nats":{"url":"nats://127.0.0.1:4222"}}}`, "inbox order_by cannot be used with backend nats"},
		{"inbox backend nats without settings", "", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats"}}`, "inbox backend nats needs its settings"},
		{"inbox nats settings with backend bolt", "", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"bolt","nats":{"url":"nats://127.0.0.1:4222"}}}`, "inbox nats settings need backend nats"},
		{"inbox nats user and token", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nuser u\npassword p\ntoken t\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","user":"u","password":"p","token":"t"}}}`, "set at most one of credentials, user with password, and token"},
		{"inbox nats user without password", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nuser u\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","user":"u"}}}`, "user and password go together"},
		{"inbox nats tls_cert without tls_key", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\ntls_cert /c.pem\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","tls_cert":"/c.pem"}}}`, "tls_cert and tls_key go together"},
		{"inbox nats six replicas", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nreplicas 6\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","replicas":6}}}`, "replicas must be 1 to 5"},
		{"inbox nats stream with a dot", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nstream a.b\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","stream":"a.b"}}}`, `stream "a.b" may not contain`},
		{"inbox nats subject with a wildcard", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nsubject a.*\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","subject":"a.*"}}}`, `subject "a.*" must be a literal dotted subject`},
		{"inbox nats password from an unset variable", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\nbackend nats nats://127.0.0.1:4222 {\nuser u\npassword {env.SCGATE_TEST_UNSET_NATS}\n}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","backend":"nats","nats":{"url":"nats://127.0.0.1:4222","user":"u","password":"{env.SCGATE_TEST_UNSET_NATS}"}}}`, "inbox nats password is empty: environment variable SCGATE_TEST_UNSET_NATS is unset or empty"},
		{"inbox order_by of an unsigned field", "secret test-secret-0123456789\ninbox {\ndeliver_to http://127.0.0.1:9/\norder_by {host}\n}", `{"secrets":["test-secret-0123456789"],"inbox":{"deliver_to":"http://127.0.0.1:9/","order_by":"{host}"}}`, "inbox order_by: key template placeholder {host} is not a signed field"},
		// A secret may come only from {env.*}, {file.*} or literal text, and
		// must be 16 bytes or more and not blank (secret.Resolve).
		{"secret from {system.os}", "secret {system.os}", `{"secrets":["{system.os}"]}`, "secret 0 has the placeholder {system.os}, whose value anyone can guess"},
		{"secret from {time.now.year}", "secret {time.now.year}", `{"secrets":["{time.now.year}"]}`, "secret 0 has the placeholder {time.now.year}, whose value anyone can guess"},
		{"second secret from {system.hostname}", "secret test-secret-0123456789 prefix-{system.hostname}", `{"secrets":["test-secret-0123456789","prefix-{system.hostname}"]}`, "secret 1 has the placeholder {system.hostname}"},
		{"blank secret", `secret " "`, `{"secrets":[" "]}`, "secret 0 is only whitespace"},
		{"short secret", "secret dev-secret", `{"secrets":["dev-secret"]}`, "secret 0 is shorter than 16 bytes"},
		{"short second secret", "secret test-secret-0123456789 fifteen-bytes!!", `{"secrets":["test-secret-0123456789","fifteen-bytes!!"]}`, "secret 1 is shorter than 16 bytes"},
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
		{"second secret partly from a missing file", []string{testSecret, "pre-{file./nonexistent/scgate-secret}"}, "secret 1 is empty: file /nonexistent/scgate-secret is missing"},
		{"mistyped placeholder", []string{"{evn.SCGATE_TEST_SECRET}"}, "secret 0 has an unknown placeholder {evn.SCGATE_TEST_SECRET}"},
		{"stray closing brace", []string{testSecret, "abc}"}, "secret 1 has an unmatched brace"},
		{"guessable placeholder", []string{"{system.os}"}, "secret 0 has the placeholder {system.os}"},
		{"short variable", []string{"{env.SCGATE_TEST_SHORT}"}, "secret 0 is shorter than 16 bytes"},
		{"blank variable", []string{testSecret, "{env.SCGATE_TEST_BLANK}"}, "secret 1 is only whitespace"},
	}
	t.Setenv("SCGATE_TEST_SHORT", "short-env")
	t.Setenv("SCGATE_TEST_BLANK", "                    ")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := provision(t, &Handler{Secrets: tt.secrets})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("provision = %v, want an error with %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "short-env") || strings.Contains(err.Error(), runtime.GOOS) {
				t.Errorf("the error shows the secret's value: %v", err)
			}
		})
	}
}

// Every field that takes placeholders resolves them the one strict way: an
// unknown placeholder (a typo) or a variable that is unset is a load error
// naming the field and the variable, never literal text sent to Redis,
// written as a file name or used as a label.
func TestPlaceholderFieldsAreStrict(t *testing.T) {
	t.Setenv("SCGATE_TEST_EMPTY", "")
	dir := t.TempDir()
	tests := []struct{ name, field, json, wantErr string }{
		{"redis password typo", "password", `{"backend":"redis","redis":{"addresses":["127.0.0.1:1"],"password":"{evn.REDIS_PW}"}}`, "{evn.REDIS_PW}"},
		{"redis password unset", "password", `{"backend":"redis","redis":{"addresses":["127.0.0.1:1"],"password":"{env.SCGATE_TEST_UNSET_PW}"}}`, "SCGATE_TEST_UNSET_PW is unset or empty"},
		{"redis username typo", "username", `{"backend":"redis","redis":{"addresses":["127.0.0.1:1"],"username":"{evn.U}"}}`, "{evn.U}"},
		{"redis url typo", "url", `{"backend":"redis","redis":{"url":"{evn.REDIS_URL}"}}`, "{evn.REDIS_URL}"},
		{"redis url unset", "url", `{"backend":"redis","redis":{"url":"{env.SCGATE_TEST_EMPTY}"}}`, "SCGATE_TEST_EMPTY is unset or empty"},
		{"redis address typo", "addresses", `{"backend":"redis","redis":{"addresses":["{evn.HOST}:6379"]}}`, "{evn.HOST}"},
		{"persist typo", "persist", `{"persist":"` + dir + `/{evn.SNAP}"}`, "{evn.SNAP}"},
		{"persist unset", "persist", `{"persist":"{env.SCGATE_TEST_EMPTY}"}`, "SCGATE_TEST_EMPTY is unset or empty"},
		{"namespace typo", "namespace", `{"namespace":"{evn.APP}"}`, "{evn.APP}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{Secrets: []string{testSecret}}
			if err := json.Unmarshal([]byte(tt.json), &h.Dedupe); err != nil {
				t.Fatal(err)
			}
			err := validate(t, h)
			if err == nil {
				t.Fatalf("loaded without error, want one naming %s and %q", tt.field, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to name %s and %q", err, tt.field, tt.wantErr)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused persist path created %v", entries)
	}
}

// The metrics endpoint label is the resolved namespace, not its
// placeholder text.
func TestEndpointLabelIsResolved(t *testing.T) {
	t.Setenv("SCGATE_TEST_APP", "shop")
	h := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{Namespace: "{env.SCGATE_TEST_APP}"}}
	if err := validate(t, h); err != nil {
		t.Fatal(err)
	}
	if got := h.endpoint(); got != "shop" {
		t.Errorf("endpoint label %q, want the resolved namespace %q", got, "shop")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metricGatewayTime)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "endpoint" {
					labels = append(labels, l.GetValue())
				}
			}
		}
	}
	if !slices.Contains(labels, "shop") || slices.Contains(labels, "{env.SCGATE_TEST_APP}") {
		t.Errorf("metrics endpoint labels %q, want the resolved namespace %q, never its placeholder", labels, "shop")
	}
}
