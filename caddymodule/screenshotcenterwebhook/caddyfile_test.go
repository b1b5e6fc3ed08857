package screenshotcenterwebhook

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestUnmarshalCaddyfileSubdirectives(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Handler
	}{
		{
			name:  "one secret only",
			input: "screenshotcenter_webhook {\n\tsecret abc\n}",
			want:  Handler{Secrets: []string{"abc"}},
		},
		{
			name: "secrets on one line and repeated are all kept in order",
			input: `screenshotcenter_webhook {
				secret new old
				secret {env.SCREENSHOTCENTER_WEBHOOK_SECRET}
			}`,
			want: Handler{Secrets: []string{"new", "old", "{env.SCREENSHOTCENTER_WEBHOOK_SECRET}"}},
		},
		{
			name: "signature_header list",
			input: `screenshotcenter_webhook {
				secret s
				signature_header X-Sig
				signature_header X-Other X-Third
			}`,
			want: Handler{Secrets: []string{"s"}, SignatureHeaders: []string{"X-Sig", "X-Other", "X-Third"}},
		},
		{
			name:  "max_body in IEC units",
			input: "screenshotcenter_webhook {\nsecret s\nmax_body 2MiB\n}",
			want:  Handler{Secrets: []string{"s"}, MaxBody: 2 << 20},
		},
		{
			name:  "max_body in SI units",
			input: "screenshotcenter_webhook {\nsecret s\nmax_body 10kB\n}",
			want:  Handler{Secrets: []string{"s"}, MaxBody: 10_000},
		},
		{
			name:  "max_body in bytes",
			input: "screenshotcenter_webhook {\nsecret s\nmax_body 512\n}",
			want:  Handler{Secrets: []string{"s"}, MaxBody: 512},
		},
		{
			name: "the body limits",
			input: `screenshotcenter_webhook {
				secret s
				body_min_rate 4KiB
				max_buffered 32MiB
				max_buffered_per_client 2MiB
				max_streams_per_connection 8
			}`,
			want: Handler{Secrets: []string{"s"}, BodyMinRate: 4 << 10, MaxBuffered: 32 << 20, MaxBufferedPerClient: 2 << 20, MaxStreamsPerConnection: 8},
		},
		{
			name: "events repeated",
			input: `screenshotcenter_webhook {
				secret s
				events screenshot.finished batch.finished
				events app.upload.finished
			}`,
			want: Handler{Secrets: []string{"s"}, Events: []string{"screenshot.finished", "batch.finished", "app.upload.finished"}},
		},
		{
			name:  "event_log size",
			input: "screenshotcenter_webhook {\nsecret s\nevent_log 500\n}",
			want:  Handler{Secrets: []string{"s"}, EventLog: 500},
		},
		{
			name:  "event_log off",
			input: "screenshotcenter_webhook {\nsecret s\nevent_log off\n}",
			want:  Handler{Secrets: []string{"s"}, EventLog: EventLogOff},
		},
		{
			name:  "max_age accepts days",
			input: "screenshotcenter_webhook {\nsecret s\nmax_age 1d\n}",
			want:  Handler{Secrets: []string{"s"}, MaxAge: caddy.Duration(24 * time.Hour)},
		},
		{
			name:  "dedupe without a block",
			input: "screenshotcenter_webhook {\nsecret s\ndedupe off\n}",
			want:  Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{Backend: BackendOff}},
		},
		{
			name:  "dedupe block without a backend leaves it to the default",
			input: "screenshotcenter_webhook {\nsecret s\ndedupe {\nttl 1h\n}\n}",
			want:  Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{TTL: caddy.Duration(time.Hour)}},
		},
		{
			name: "dedupe with every subdirective",
			input: `screenshotcenter_webhook {
				secret s
				dedupe memory {
					ttl 96h
					inflight_timeout 90s
					max_keys 5000
					key {event}|{screenshot_id}|{created_at}
				}
			}`,
			want: Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{
				Backend:         BackendMemory,
				TTL:             caddy.Duration(96 * time.Hour),
				InflightTimeout: caddy.Duration(90 * time.Second),
				MaxKeys:         5000,
				Key:             "{event}|{screenshot_id}|{created_at}",
			}},
		},
		{
			name: "inbox with every subdirective",
			input: `screenshotcenter_webhook {
				secret s
				inbox {
					deliver_to http://127.0.0.1:9090/webhooks/screenshot
					store /var/lib/scgate/inbox.db
					attempts 25
					backoff 10s 1m
					backoff 5m
					timeout 15s
					concurrency 8
					rate 50/s
					burst 10
					order_by {screenshot_id}
					retain 168h
				}
			}`,
			want: Handler{Secrets: []string{"s"}, Inbox: &InboxConfig{
				DeliverTo:   "http://127.0.0.1:9090/webhooks/screenshot",
				Store:       "/var/lib/scgate/inbox.db",
				Attempts:    25,
				Backoff:     []caddy.Duration{caddy.Duration(10 * time.Second), caddy.Duration(time.Minute), caddy.Duration(5 * time.Minute)},
				Timeout:     caddy.Duration(15 * time.Second),
				Concurrency: 8,
				Rate:        "50/s",
				Burst:       10,
				OrderBy:     "{screenshot_id}",
				Retain:      caddy.Duration(168 * time.Hour),
			}},
		},
		{
			name: "inbox on nats",
			input: `screenshotcenter_webhook {
				secret s
				inbox {
					deliver_to http://127.0.0.1:9090/hook
					backend nats nats://10.0.0.5:4222,nats://10.0.0.6:4222 {
						stream HOOKS
						subject hooks.inbox
						consumer hooks_deliver
						user scgate
						password {env.NATS_PASSWORD}
						tls_ca /etc/nats/ca.pem
						tls_cert /etc/nats/client.pem
						tls_key /etc/nats/client-key.pem
						replicas 3
					}
				}
			}`,
			want: Handler{Secrets: []string{"s"}, Inbox: &InboxConfig{
				DeliverTo: "http://127.0.0.1:9090/hook",
				Backend:   InboxBackendNATS,
				NATS: &InboxNATSConfig{URL: "nats://10.0.0.5:4222,nats://10.0.0.6:4222", Stream: "HOOKS", Subject: "hooks.inbox",
					Consumer: "hooks_deliver", User: "scgate", Password: "{env.NATS_PASSWORD}", TLSCA: "/etc/nats/ca.pem",
					TLSCert: "/etc/nats/client.pem", TLSKey: "/etc/nats/client-key.pem", Replicas: 3},
			}},
		},
		{
			name: "inbox on bolt, said explicitly",
			input: `screenshotcenter_webhook {
				secret s
				inbox {
					deliver_to http://127.0.0.1:9090/hook
					backend bolt
				}
			}`,
			want: Handler{Secrets: []string{"s"}, Inbox: &InboxConfig{DeliverTo: "http://127.0.0.1:9090/hook", Backend: InboxBackendBolt}},
		},
		{
			name: "everything at once",
			input: `screenshotcenter_webhook {
				secret {env.A} {file./run/secrets/b}
				signature_header X-Signature
				max_body 64KiB
				events screenshot.finished
				max_age 30m
				dedupe memory {
					ttl 1h
				}
			}`,
			want: Handler{
				Secrets:          []string{"{env.A}", "{file./run/secrets/b}"},
				SignatureHeaders: []string{"X-Signature"},
				MaxBody:          64 << 10,
				Events:           []string{"screenshot.finished"},
				MaxAge:           caddy.Duration(30 * time.Minute),
				Dedupe:           &DedupeConfig{Backend: BackendMemory, TTL: caddy.Duration(time.Hour)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(tt.want)
				t.Errorf("parsed\n  %s\nwant\n  %s", gj, wj)
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"argument on the directive line", "screenshotcenter_webhook extra {\nsecret s\n}", "wrong argument count"},
		{"unknown subdirective", "screenshotcenter_webhook {\nsecret s\nsecrets t\n}", "unrecognized screenshotcenter_webhook subdirective 'secrets'"},
		{"secret without a value", "screenshotcenter_webhook {\nsecret\n}", "wrong argument count"},
		{"signature_header without a name", "screenshotcenter_webhook {\nsecret s\nsignature_header\n}", "wrong argument count"},
		{"events without a name", "screenshotcenter_webhook {\nsecret s\nevents\n}", "wrong argument count"},
		{"max_body without a size", "screenshotcenter_webhook {\nsecret s\nmax_body\n}", "wrong argument count"},
		{"max_body not a size", "screenshotcenter_webhook {\nsecret s\nmax_body lots\n}", "parsing max_body"},
		{"max_body negative", "screenshotcenter_webhook {\nsecret s\nmax_body -1MiB\n}", "parsing max_body"},
		{"max_body zero", "screenshotcenter_webhook {\nsecret s\nmax_body 0\n}", "max_body 0 cannot be configured"},
		{"event_log zero", "screenshotcenter_webhook {\nsecret s\nevent_log 0\n}", "event_log 0 cannot be configured"},
		{"event_log not a number", "screenshotcenter_webhook {\nsecret s\nevent_log lots\n}", "parsing event_log"},
		{"event_log without a size", "screenshotcenter_webhook {\nsecret s\nevent_log\n}", "wrong argument count"},
		{"max_body two sizes", "screenshotcenter_webhook {\nsecret s\nmax_body 1MiB 2MiB\n}", "wrong argument count"},
		{"body_min_rate not a size", "screenshotcenter_webhook {\nsecret s\nbody_min_rate fast\n}", "parsing body_min_rate"},
		{"body_min_rate zero", "screenshotcenter_webhook {\nsecret s\nbody_min_rate 0\n}", "body_min_rate 0 cannot be configured"},
		{"max_buffered_per_client not a size", "screenshotcenter_webhook {\nsecret s\nmax_buffered_per_client some\n}", "parsing max_buffered_per_client"},
		{"max_streams_per_connection not a number", "screenshotcenter_webhook {\nsecret s\nmax_streams_per_connection many\n}", "parsing max_streams_per_connection 'many': not an integer"},
		{"max_streams_per_connection zero", "screenshotcenter_webhook {\nsecret s\nmax_streams_per_connection 0\n}", "max_streams_per_connection 0 cannot be configured"},
		{"max_age without a duration", "screenshotcenter_webhook {\nsecret s\nmax_age\n}", "wrong argument count"},
		{"max_age not a duration", "screenshotcenter_webhook {\nsecret s\nmax_age soon\n}", "parsing max_age"},
		{"max_age zero", "screenshotcenter_webhook {\nsecret s\nmax_age 0s\n}", "max_age 0 cannot be configured"},
		{"max_age two durations", "screenshotcenter_webhook {\nsecret s\nmax_age 5m 10m\n}", "wrong argument count"},
		{"dedupe with two backends", "screenshotcenter_webhook {\nsecret s\ndedupe memory off\n}", "wrong argument count"},
		{"dedupe configured twice", "screenshotcenter_webhook {\nsecret s\ndedupe memory\ndedupe off\n}", "dedupe may be configured only once"},
		{"dedupe block configured twice", "screenshotcenter_webhook {\nsecret s\ndedupe {\nttl 1h\n}\ndedupe {\nttl 2h\n}\n}", "dedupe may be configured only once"},
		{"unknown dedupe subdirective", "screenshotcenter_webhook {\nsecret s\ndedupe {\nexpiry 1h\n}\n}", "unrecognized dedupe subdirective 'expiry'"},
		{"ttl without a duration", "screenshotcenter_webhook {\nsecret s\ndedupe {\nttl\n}\n}", "wrong argument count"},
		{"ttl not a duration", "screenshotcenter_webhook {\nsecret s\ndedupe {\nttl forever\n}\n}", "parsing ttl"},
		{"ttl zero", "screenshotcenter_webhook {\nsecret s\ndedupe {\nttl 0\n}\n}", "ttl 0 cannot be configured"},
		{"inflight_timeout without a duration", "screenshotcenter_webhook {\nsecret s\ndedupe {\ninflight_timeout\n}\n}", "wrong argument count"},
		{"inflight_timeout not a duration", "screenshotcenter_webhook {\nsecret s\ndedupe {\ninflight_timeout soon\n}\n}", "parsing inflight_timeout"},
		{"inflight_timeout zero", "screenshotcenter_webhook {\nsecret s\ndedupe {\ninflight_timeout 0s\n}\n}", "inflight_timeout 0 cannot be configured"},
		{"max_keys without a number", "screenshotcenter_webhook {\nsecret s\ndedupe {\nmax_keys\n}\n}", "wrong argument count"},
		{"max_keys not a number", "screenshotcenter_webhook {\nsecret s\ndedupe {\nmax_keys many\n}\n}", "parsing max_keys 'many': not an integer"},
		{"max_keys zero", "screenshotcenter_webhook {\nsecret s\ndedupe {\nmax_keys 0\n}\n}", "max_keys 0 cannot be configured"},
		{"max_keys two numbers", "screenshotcenter_webhook {\nsecret s\ndedupe {\nmax_keys 1 2\n}\n}", "wrong argument count"},
		{"key without a template", "screenshotcenter_webhook {\nsecret s\ndedupe {\nkey\n}\n}", "wrong argument count"},
		{"key empty", "screenshotcenter_webhook {\nsecret s\ndedupe {\nkey \"\"\n}\n}", "key must not be empty"},
		{"key two templates", "screenshotcenter_webhook {\nsecret s\ndedupe {\nkey {event} {batch_id}\n}\n}", "wrong argument count"},
		{"inbox with an argument", "screenshotcenter_webhook {\nsecret s\ninbox http://x/ {\n}\n}", "wrong argument count"},
		{"inbox configured twice", "screenshotcenter_webhook {\nsecret s\ninbox {\ndeliver_to http://x/\n}\ninbox {\ndeliver_to http://y/\n}\n}", "inbox may be configured only once"},
		{"unknown inbox subdirective", "screenshotcenter_webhook {\nsecret s\ninbox {\nworkers 3\n}\n}", "unrecognized inbox subdirective 'workers'"},
		{"inbox backend without a name", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend\n}\n}", "wrong argument count"},
		{"inbox backend bolt with a url", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend bolt nats://x:1\n}\n}", "wrong argument count"},
		{"inbox backend nats without a url", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend nats\n}\n}", "wrong argument count"},
		{"inbox backend unknown", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend kafka x\n}\n}", "wrong argument count"},
		{"inbox backend twice", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend bolt\nbackend bolt\n}\n}", "inbox backend may be set only once"},
		{"unknown nats subdirective", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackend nats nats://x:1 {\nqueue q\n}\n}\n}", "unrecognized inbox backend nats subdirective 'queue'"},
		{"inbox deliver_to twice", "screenshotcenter_webhook {\nsecret s\ninbox {\ndeliver_to http://x/\ndeliver_to http://y/\n}\n}", "deliver_to may be set only once"},
		{"inbox attempts zero", "screenshotcenter_webhook {\nsecret s\ninbox {\nattempts 0\n}\n}", "attempts 0 cannot be configured"},
		{"inbox backoff not a duration", "screenshotcenter_webhook {\nsecret s\ninbox {\nbackoff soon\n}\n}", "parsing backoff 'soon'"},
		{"inbox rate two values", "screenshotcenter_webhook {\nsecret s\ninbox {\nrate 50/s 10/s\n}\n}", "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.input)
			if err == nil {
				t.Fatalf("parsed without error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// The directive is written after reverse_proxy on purpose: without a global
// `order` option it must still be placed before it, and the env placeholder
// must reach the JSON unresolved.
const adaptInput = `{
	persist_config off
}

:8080 {
	reverse_proxy 127.0.0.1:9090
	screenshotcenter_webhook {
		secret {env.SCGATE_ADAPT_SECRET}
		max_body 64KiB
		events screenshot.finished
		max_age 1h
		dedupe memory {
			ttl 24h
			inflight_timeout 30s
			max_keys 1000
		}
	}
}
`

const adaptGolden = `{
	"admin": {
		"config": {
			"persist": false
		}
	},
	"apps": {
		"http": {
			"servers": {
				"srv0": {
					"listen": [
						":8080"
					],
					"routes": [
						{
							"handle": [
								{
									"dedupe": {
										"backend": "memory",
										"inflight_timeout": 30000000000,
										"max_keys": 1000,
										"ttl": 86400000000000
									},
									"events": [
										"screenshot.finished"
									],
									"handler": "screenshotcenter_webhook",
									"max_age": 3600000000000,
									"max_body": 65536,
									"secrets": [
										"{env.SCGATE_ADAPT_SECRET}"
									]
								},
								{
									"handler": "reverse_proxy",
									"upstreams": [
										{
											"dial": "127.0.0.1:9090"
										}
									]
								}
							]
						}
					]
				}
			}
		}
	}
}`

func TestAdaptOrdersBeforeReverseProxyAndKeepsEnvPlaceholder(t *testing.T) {
	t.Setenv("SCGATE_ADAPT_SECRET", "must-not-appear")
	out := adapt(t, adaptInput)
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("adapted JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(adaptGolden), &want); err != nil {
		t.Fatalf("golden JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("adapted config differs from golden:\n%s", out)
	}
	if strings.Contains(string(out), "must-not-appear") {
		t.Error("the secret's value leaked into the adapted JSON")
	}
}

// webhook_gateway is the same handler under a provider-neutral name: the
// same options give the same JSON, ordered before reverse_proxy alike, and
// the scheme option lands in it.
func TestAdaptWebhookGatewayIsTheSameHandler(t *testing.T) {
	neutral := strings.Replace(adaptInput, "screenshotcenter_webhook {", "webhook_gateway {", 1)
	var got, want any
	if err := json.Unmarshal(adapt(t, neutral), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(adaptGolden), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("webhook_gateway adapts differently from screenshotcenter_webhook:\n%s", adapt(t, neutral))
	}
	withScheme := strings.Replace(neutral, "max_body 64KiB", "max_body 64KiB\n\t\tscheme screenshotcenter", 1)
	if out := string(adapt(t, withScheme)); !strings.Contains(out, `"scheme":"screenshotcenter"`) {
		t.Errorf("the scheme option is not in the adapted JSON:\n%s", out)
	}
	if _, err := parse(t, "webhook_gateway {\n\tsecret s\n\tbogus 1\n}"); err == nil || !strings.Contains(err.Error(), "unrecognized webhook_gateway subdirective 'bogus'") {
		t.Errorf("an unknown option under webhook_gateway: %v", err)
	}
}

// With the same path matcher on both directives the gateway still comes
// first, and the matcher is kept.
func TestAdaptWithMatcherBeforeReverseProxy(t *testing.T) {
	out := string(adapt(t, `:8080 {
	reverse_proxy /webhooks/* 127.0.0.1:9090
	screenshotcenter_webhook /webhooks/* {
		secret {env.SCGATE_ADAPT_SECRET}
	}
}
`))
	gw := strings.Index(out, `"handler":"screenshotcenter_webhook"`)
	rp := strings.Index(out, `"handler":"reverse_proxy"`)
	if gw < 0 || rp < 0 || gw > rp {
		t.Fatalf("gateway (at %d) not before reverse_proxy (at %d):\n%s", gw, rp, out)
	}
	if !strings.Contains(out, `"match":[{"path":["/webhooks/*"]}]`) {
		t.Errorf("path matcher lost:\n%s", out)
	}
}

// {$VAR} is substituted when the Caddyfile is adapted, which is why the docs
// say to use {env.VAR} for secrets; this pins that difference down.
func TestAdaptSubstitutesDollarVariablesAtAdaptTime(t *testing.T) {
	t.Setenv("SCGATE_ADAPT_SECRET", "adapt-time-value")
	out := string(adapt(t, ":8080 {\n\tscreenshotcenter_webhook {\n\t\tsecret {$SCGATE_ADAPT_SECRET}\n\t}\n\trespond ok\n}\n"))
	if !strings.Contains(out, `"secrets":["adapt-time-value"]`) {
		t.Errorf("want the value substituted at adapt time:\n%s", out)
	}
}

func TestUnmarshalCaddyfileStoreOptions(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  DedupeConfig
	}{
		{
			name: "redis by url with every option",
			input: `screenshotcenter_webhook {
				secret s
				dedupe redis {
					url {env.REDIS_URL}
					key_prefix gw1:
					ttl 24h
					inflight_timeout 30s
					on_error open
					timeout 100ms
				}
			}`,
			want: DedupeConfig{
				Backend: BackendRedis, TTL: caddy.Duration(24 * time.Hour),
				InflightTimeout: caddy.Duration(30 * time.Second), OnError: OnErrorOpen,
				Redis: &RedisConfig{URL: "{env.REDIS_URL}", KeyPrefix: "gw1:", Timeout: caddy.Duration(100 * time.Millisecond)},
			},
		},
		{
			name: "redis cluster seeds on one line and repeated",
			input: `screenshotcenter_webhook {
				secret s
				dedupe redis {
					addresses 10.0.0.1:6379 10.0.0.2:6379
					addresses 10.0.0.3:6379
					password {env.REDIS_PASSWORD}
					username gw
					tls
				}
			}`,
			want: DedupeConfig{Backend: BackendRedis, Redis: &RedisConfig{
				Addresses: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
				Password:  "{env.REDIS_PASSWORD}", Username: "gw", TLS: true,
			}},
		},
		{
			name: "sentinel",
			input: `screenshotcenter_webhook {
				secret s
				dedupe redis {
					addresses s1:26379 s2:26379 s3:26379
					master_name mymaster
					on_error closed
				}
			}`,
			want: DedupeConfig{Backend: BackendRedis, OnError: OnErrorClosed, Redis: &RedisConfig{
				Addresses: []string{"s1:26379", "s2:26379", "s3:26379"}, MasterName: "mymaster",
			}},
		},
		{
			name: "memory with persist",
			input: `screenshotcenter_webhook {
				secret s
				dedupe memory {
					persist /var/lib/scgate/dedupe.snap
					persist_interval 30s
					max_keys 5000
				}
			}`,
			want: DedupeConfig{Backend: BackendMemory, MaxKeys: 5000,
				Persist: "/var/lib/scgate/dedupe.snap", PersistInterval: caddy.Duration(30 * time.Second)},
		},
		{
			name: "persist without a backend name is memory",
			input: `screenshotcenter_webhook {
				secret s
				dedupe {
					persist dedupe.snap
				}
			}`,
			want: DedupeConfig{Persist: "dedupe.snap"},
		},
		{
			name: "old syntax still parses",
			input: `screenshotcenter_webhook {
				secret s
				dedupe memory {
					ttl 1h
					max_keys 10
				}
			}`,
			want: DedupeConfig{Backend: BackendMemory, TTL: caddy.Duration(time.Hour), MaxKeys: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parse(t, tt.input)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(*h.Dedupe, tt.want) {
				t.Errorf("dedupe = %+v (redis %+v)\nwant     %+v (redis %+v)", *h.Dedupe, h.Dedupe.Redis, tt.want, tt.want.Redis)
			}
		})
	}
}

func TestUnmarshalCaddyfileStoreOptionErrors(t *testing.T) {
	tests := []struct{ name, block, wantErr string }{
		{"on_error without value", "dedupe redis {\non_error\n}", "argument"},
		{"url twice", "dedupe redis {\nurl redis://a:1\nurl redis://b:1\n}", "only once"},
		{"url with two values", "dedupe redis {\nurl redis://a:1 redis://b:1\n}", "argument"},
		{"addresses empty", "dedupe redis {\naddresses\n}", "argument"},
		{"tls with a value", "dedupe redis {\ntls yes\n}", "argument"},
		{"timeout not a duration", "dedupe redis {\ntimeout soon\n}", "parsing timeout"},
		{"timeout zero", "dedupe redis {\ntimeout 0s\n}", "timeout 0 cannot be configured"},
		{"persist without file", "dedupe memory {\npersist\n}", "argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, "screenshotcenter_webhook {\nsecret s\n"+tt.block+"\n}")
			if err == nil {
				t.Fatalf("parsed without error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
