package caddymodule

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/internal/redistest"
)

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
		{"redis option on memory", "dedupe memory {\nurl redis://x:1\n}", "applies to the redis backend, not memory"},
		{"redis option without backend", "dedupe {\naddresses x:1\n}", "applies to the redis backend, not memory"},
		{"persist on redis", "dedupe redis {\npersist f\n}", "applies to the memory backend, not redis"},
		{"max_keys on redis", "dedupe redis {\nmax_keys 10\n}", "applies to the memory backend, not redis"},
		{"unknown backend", "dedupe mongo", "want memory, redis or off"},
		{"bad on_error", "dedupe redis {\non_error maybe\n}", "on_error must be closed or open"},
		{"on_error without value", "dedupe redis {\non_error\n}", "argument"},
		{"url twice", "dedupe redis {\nurl redis://a:1\nurl redis://b:1\n}", "only once"},
		{"url with two values", "dedupe redis {\nurl redis://a:1 redis://b:1\n}", "argument"},
		{"addresses empty", "dedupe redis {\naddresses\n}", "argument"},
		{"tls with a value", "dedupe redis {\ntls yes\n}", "argument"},
		{"timeout not a duration", "dedupe redis {\ntimeout soon\n}", "parsing timeout"},
		{"timeout zero", "dedupe redis {\ntimeout 0s\n}", "must be positive"},
		{"persist_interval negative", "dedupe memory {\npersist f\npersist_interval -1s\n}", "must be positive"},
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

func TestProvisionStoreErrors(t *testing.T) {
	t.Setenv("SCGATE_TEST_EMPTY", "")
	tests := []struct{ name, dedupe, wantErr string }{
		{"redis without server", `{"backend":"redis"}`, "needs url or addresses"},
		{"redis url unset variable", `{"backend":"redis","redis":{"url":"{env.SCGATE_TEST_EMPTY}"}}`, "needs url or addresses"},
		{"url and addresses", `{"backend":"redis","redis":{"url":"redis://a:1","addresses":["b:1"]}}`, "not both"},
		{"bad address", `{"backend":"redis","redis":{"addresses":["nohostport"]}}`, "not host:port"},
		{"password in url not shown", `{"backend":"redis","redis":{"url":"redis://u:hunter2@bad host/0"}}`, "url is invalid"},
		{"bad scheme", `{"backend":"redis","redis":{"url":"http://x:1"}}`, "url is invalid"},
		{"master_name without addresses", `{"backend":"redis","redis":{"url":"redis://a:1","master_name":"m"}}`, "go with addresses"},
		{"redis settings on memory", `{"backend":"memory","redis":{"url":"redis://a:1"}}`, "redis backend only"},
		{"persist on off", `{"backend":"off","persist":"/tmp/x"}`, "memory backend only"},
		{"persist_interval without persist", `{"persist_interval":1000000000}`, "needs persist"},
		{"bad on_error", `{"on_error":"sometimes"}`, "closed or open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Handler{Secrets: []string{"s"}}
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

// TestProvisionRedisUnreachable: a config naming a Redis nobody listens on
// provisions (validate and start do not wait for Redis), and requests are
// answered by on_error.
func TestProvisionRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL()
	srv.Stop() // the port is now closed

	closed := &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{
		Backend: BackendRedis, Redis: &RedisConfig{URL: url},
	}}
	if err := provision(t, closed); err != nil {
		t.Fatalf("provision with Redis down: %v", err)
	}
	if got, hdr := serveHeaders(t, closed, "s", `{"event":"e","screenshot_id":1}`); got != "status 503" || hdr.Get("Retry-After") == "" {
		t.Errorf("on_error closed with Redis down: %s (Retry-After %q), want status 503 with Retry-After", got, hdr.Get("Retry-After"))
	}

	open := &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{
		Backend: BackendRedis, OnError: OnErrorOpen, Redis: &RedisConfig{URL: url},
	}}
	if err := provision(t, open); err != nil {
		t.Fatal(err)
	}
	if got, hdr := serveHeaders(t, open, "s", `{"event":"e","screenshot_id":1}`); got != "forwarded" || hdr.Get("Retry-After") != "" {
		t.Errorf("on_error open with Redis down: %s (Retry-After %q), want forwarded without Retry-After", got, hdr.Get("Retry-After"))
	}

	// Back up on the same port: the same handlers dedupe again.
	srv.Restart()
	for _, h := range []*Handler{closed, open} {
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got, _ = serveHeaders(t, h, "s", `{"event":"e","screenshot_id":2}`); got != "status 503" {
				break
			}
		}
		if got != "forwarded" && got != "duplicate" {
			t.Fatalf("after Redis is back: %s", got)
		}
		if got, _ := serveHeaders(t, h, "s", `{"event":"e","screenshot_id":2}`); got != "duplicate" {
			t.Errorf("retry after Redis is back: %s, want duplicate", got)
		}
	}
}

// TestRedisClientShared: two handlers with the same settings share one
// store and client (a reload reuses it); it is closed when the last one is
// cleaned up. A handler with another prefix has a store of its own (its
// cache of done keys is per prefix) and does not see the others' events.
func TestRedisClientShared(t *testing.T) {
	url := redistest.URL(t)
	prefix := "scgate-test:" + t.Name() + time.Now().Format("150405.000000000") + ":"
	newHandler := func(prefix string) *Handler {
		return &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{
			Backend: BackendRedis, Redis: &RedisConfig{URL: url, KeyPrefix: prefix},
		}}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a, b, other := newHandler(prefix), newHandler(prefix), newHandler(prefix+"other:")
	for _, h := range []*Handler{a, b, other} {
		if err := h.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if a.storeKey != b.storeKey || a.storeKey == other.storeKey || !strings.HasPrefix(a.storeKey, "redis:") {
		t.Fatalf("pool keys %q %q %q: want a and b to share a redis store, other to have its own", a.storeKey, b.storeKey, other.storeKey)
	}
	if strings.Contains(a.storeKey, url) {
		t.Fatalf("pool key holds the url: %q", a.storeKey)
	}
	if refs, ok := stores.References(a.storeKey); !ok || refs != 2 {
		t.Fatalf("store references = %d, %v; want 2", refs, ok)
	}
	if got, _ := serveHeaders(t, a, "s", `{"event":"e","screenshot_id":7}`); got != "forwarded" {
		t.Fatalf("first delivery: %s", got)
	}
	if got, _ := serveHeaders(t, b, "s", `{"event":"e","screenshot_id":7}`); got != "duplicate" {
		t.Errorf("same event through the other handler: %s, want duplicate", got)
	}
	if got, _ := serveHeaders(t, other, "s", `{"event":"e","screenshot_id":7}`); got != "forwarded" {
		t.Errorf("same event under another key_prefix: %s, want forwarded", got)
	}

	// The old config goes (reload): the client stays for the others.
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got, _ := serveHeaders(t, b, "s", `{"event":"e","screenshot_id":8}`); got != "forwarded" {
		t.Errorf("after one handler's cleanup: %s, want forwarded", got)
	}
	keys := []string{b.storeKey, other.storeKey}
	_ = b.Cleanup()
	_ = other.Cleanup()
	for _, k := range keys {
		if _, ok := stores.References(k); ok {
			t.Fatal("store still pooled after the last cleanup")
		}
	}
}

// TestMemoryPersistAcrossStores: the snapshot is written when the last
// handler using it is cleaned up (process exit), and loaded by the next;
// a corrupt snapshot does not stop provisioning.
func TestMemoryPersistAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedupe.snap")
	newHandler := func() *Handler {
		return &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{Persist: path}}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	first := newHandler()
	if err := first.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Validate(); err != nil {
		t.Fatal(err)
	}
	if first.storeKey != memoryPoolKey+":"+path {
		t.Fatalf("pool key %q, want one naming the file", first.storeKey)
	}
	if time.Duration(first.Dedupe.PersistInterval) != DefaultPersistInterval {
		t.Errorf("persist_interval = %v, want the default", first.Dedupe.PersistInterval)
	}
	if got, _ := serveHeaders(t, first, "s", `{"event":"e","screenshot_id":1}`); got != "forwarded" {
		t.Fatalf("first delivery: %s", got)
	}
	if err := first.Cleanup(); err != nil { // last reference: snapshot written
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no snapshot after the last cleanup: %v", err)
	}

	written, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	second := newHandler()
	if err := provision(t, second); err != nil {
		t.Fatal(err)
	}
	if got, _ := serveHeaders(t, second, "s", `{"event":"e","screenshot_id":1}`); got != "duplicate" {
		t.Errorf("retry after a restart with persist: %s, want duplicate", got)
	}
	if err := second.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// Nothing was committed: the file is left alone (so `caddy validate`,
	// which provisions and cleans up, never rewrites a live snapshot).
	if now, err := os.Stat(path); err != nil || !os.SameFile(written, now) {
		t.Errorf("snapshot rewritten although nothing changed (err %v)", err)
	}

	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := newHandler()
	if err := provision(t, third); err != nil {
		t.Fatalf("provision with a corrupt snapshot: %v", err)
	}
	if got, _ := serveHeaders(t, third, "s", `{"event":"e","screenshot_id":1}`); got != "forwarded" {
		t.Errorf("after a corrupt snapshot: %s, want forwarded (nothing remembered)", got)
	}
}
