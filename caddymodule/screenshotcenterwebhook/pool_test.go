package screenshotcenterwebhook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/redistest"
)

// TestProvisionRedisUnreachable: a config naming a Redis nobody listens on
// provisions (validate and start do not wait for Redis), and requests are
// answered by on_error.
func TestProvisionRedisUnreachable(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL()
	srv.Stop() // the port is now closed

	closed := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{
		Backend: BackendRedis, Redis: &RedisConfig{URL: url},
	}}
	if err := provision(t, closed); err != nil {
		t.Fatalf("provision with Redis down: %v", err)
	}
	if got, hdr := serveHeaders(t, closed, testSecret, `{"event":"e","screenshot_id":1}`); got != "status 503" || hdr.Get("Retry-After") == "" {
		t.Errorf("on_error closed with Redis down: %s (Retry-After %q), want status 503 with Retry-After", got, hdr.Get("Retry-After"))
	}

	open := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{
		Backend: BackendRedis, OnError: OnErrorOpen, Redis: &RedisConfig{URL: url},
	}}
	if err := provision(t, open); err != nil {
		t.Fatal(err)
	}
	if got, hdr := serveHeaders(t, open, testSecret, `{"event":"e","screenshot_id":1}`); got != "forwarded" || hdr.Get("Retry-After") != "" {
		t.Errorf("on_error open with Redis down: %s (Retry-After %q), want forwarded without Retry-After", got, hdr.Get("Retry-After"))
	}

	// Back up on the same port: the same handlers dedupe again.
	srv.Restart()
	for _, h := range []*Handler{closed, open} {
		var got string
		eventually.Succeeds(t, 10*time.Second, func() error {
			if got, _ = serveHeaders(t, h, testSecret, `{"event":"e","screenshot_id":2}`); got == "status 503" {
				return errors.New("still 503")
			}
			return nil
		})
		if got != "forwarded" && got != "duplicate" {
			t.Fatalf("after Redis is back: %s", got)
		}
		if got, _ := serveHeaders(t, h, testSecret, `{"event":"e","screenshot_id":2}`); got != "duplicate" {
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
		// An App each: as in different configs or processes.
		return &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{
			Backend: BackendRedis, Redis: &RedisConfig{URL: url, KeyPrefix: prefix},
		}, app: new(App)}
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
		if err := h.app.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if a.poolKey != b.poolKey || a.poolKey == other.poolKey || !strings.HasPrefix(a.poolKey, "redis:") {
		t.Fatalf("pool keys %q %q %q: want a and b to share a redis store, other to have its own", a.poolKey, b.poolKey, other.poolKey)
	}
	if strings.Contains(a.poolKey, url) {
		t.Fatalf("pool key holds the url: %q", a.poolKey)
	}
	if refs, ok := stores.References(a.poolKey); !ok || refs != 2 {
		t.Fatalf("store references = %d, %v; want 2", refs, ok)
	}
	if got, _ := serveHeaders(t, a, testSecret, `{"event":"e","screenshot_id":7}`); got != "forwarded" {
		t.Fatalf("first delivery: %s", got)
	}
	if got, _ := serveHeaders(t, b, testSecret, `{"event":"e","screenshot_id":7}`); got != "duplicate" {
		t.Errorf("same event through the other handler: %s, want duplicate", got)
	}
	if got, _ := serveHeaders(t, other, testSecret, `{"event":"e","screenshot_id":7}`); got != "forwarded" {
		t.Errorf("same event under another key_prefix: %s, want forwarded", got)
	}

	// The old config goes (reload): the client stays for the others.
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got, _ := serveHeaders(t, b, testSecret, `{"event":"e","screenshot_id":8}`); got != "forwarded" {
		t.Errorf("after one handler's cleanup: %s, want forwarded", got)
	}
	keys := []string{b.poolKey, other.poolKey}
	_ = b.Cleanup()
	_ = other.Cleanup()
	for _, k := range keys {
		if _, ok := stores.References(k); ok {
			t.Fatal("store still pooled after the last cleanup")
		}
	}
}

// TestMemoryPersistAcrossStores: the snapshot is written when the last
// handler using it is cleaned up (process exit), and loaded by the next
// config's start; a corrupt snapshot fails the start.
func TestMemoryPersistAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedupe.snap")
	newHandler := func() *Handler {
		return &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{Persist: path}, app: new(App)}
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
	if err := first.app.Start(); err != nil {
		t.Fatal(err)
	}
	if first.poolKey != memoryPoolKey+":"+path {
		t.Fatalf("pool key %q, want one naming the file", first.poolKey)
	}
	if time.Duration(first.Dedupe.PersistInterval) != DefaultPersistInterval {
		t.Errorf("persist_interval = %v, want the default", first.Dedupe.PersistInterval)
	}
	if got, _ := serveHeaders(t, first, testSecret, `{"event":"e","screenshot_id":1}`); got != "forwarded" {
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
	if got, _ := serveHeaders(t, second, testSecret, `{"event":"e","screenshot_id":1}`); got != "duplicate" {
		t.Errorf("retry after a restart with persist: %s, want duplicate", got)
	}
	if err := second.Cleanup(); err != nil {
		t.Fatal(err)
	}
	// Nothing was committed: the file is left alone.
	if now, err := os.Stat(path); err != nil || !os.SameFile(written, now) {
		t.Errorf("snapshot rewritten although nothing changed (err %v)", err)
	}

	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A corrupt snapshot is the config's start error; the config's
	// cleanup (Caddy's, at once) removes the store from the pool.
	third := newHandler()
	err = provision(t, third)
	if err == nil || !strings.Contains(err.Error(), path+": dedupe snapshot is corrupt") || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("start with a corrupt snapshot: %v, want an error naming the file and what to do", err)
	}
	if err := third.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := stores.References(memoryPoolKey + ":" + path); ok {
		t.Error("a store that failed to load stays in the pool")
	}
	if kept, err := os.ReadFile(path); err != nil || string(kept) != "garbage" {
		t.Errorf("the corrupt snapshot was changed (%v)", err)
	}
}

// TestProvisionRedisSentinel: a Caddyfile naming Sentinels and a master
// name dedupes through the master those Sentinels report.
func TestProvisionRedisSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 3})
	// timeout: generous, as the race detector on a busy CI machine slows
	// the first claim (Sentinel query, master dial, script load).
	h, err := parse(t, `screenshotcenter_webhook {
		secret `+testSecret+`
		dedupe redis {
			addresses `+strings.Join(s.Addrs(), " ")+`
			master_name `+redistest.MasterName+`
			timeout 5s
		}
	}`)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if r := h.Dedupe.Redis; r == nil || r.MasterName != redistest.MasterName || len(r.Addresses) != 3 {
		t.Fatalf("parsed redis settings %+v", r)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":42}`
	if got, _ := serveHeaders(t, h, testSecret, body); got != "forwarded" {
		t.Fatalf("first delivery: %s, want forwarded", got)
	}
	if got, _ := serveHeaders(t, h, testSecret, body); got != "duplicate" {
		t.Fatalf("retry: %s, want duplicate", got)
	}
	// The done key is on the master, under the default prefix.
	keys, err := s.Master.Do("KEYS", "*")
	if err != nil || !strings.HasPrefix(keys, DefaultKeyPrefix) || strings.Contains(keys, "\n") {
		t.Fatalf("keys on the master: %q (%v), want one %s key", keys, err, DefaultKeyPrefix)
	}
}

// The memory store is shared by every config of the process; a config that
// is provisioned but never serves (it failed to load) must not change the
// running one's max_keys.
func TestMaxKeysAppliesWhenAConfigServes(t *testing.T) {
	live := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{MaxKeys: 1 << 20}}
	if err := provision(t, live); err != nil {
		t.Fatal(err)
	}
	body := func(i int) string {
		return `{"event":"screenshot.finished","screenshot_id":"sc_bound_` + t.Name() + strconv.Itoa(i) + `"}`
	}
	if got := serve(t, live, testSecret, body(0)); got != "forwarded" {
		t.Fatalf("first event: %s", got)
	}
	// Other tests may share the process-wide store: restore its bound.
	t.Cleanup(func() { live.store.(*dedupe.MemoryStore).SetMaxKeys(dedupe.DefaultMaxKeys) })
	rejected := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{MaxKeys: 1}}
	if err := validate(t, rejected); err != nil {
		t.Fatal(err)
	}
	if got := serve(t, live, testSecret, body(1)); got != "forwarded" {
		t.Fatalf("after a config with max_keys 1 was provisioned but never served: %s", got)
	}
	// Once that config serves, its bound applies: the store holds more
	// than one key, so the new event evicts delivered ones until it fits.
	if err := rejected.app.Start(); err != nil {
		t.Fatal(err)
	}
	evictions := testutil.ToFloat64(metricEvictions.WithLabelValues(memoryPoolKey))
	if got := serve(t, rejected, testSecret, body(2)); got != "forwarded" {
		t.Fatalf("with max_keys 1 applied: %s, want forwarded after evictions", got)
	}
	if n := live.store.(*dedupe.MemoryStore).Len(); n != 1 || testutil.ToFloat64(metricEvictions.WithLabelValues(memoryPoolKey)) < evictions+2 {
		t.Fatalf("store holds %d keys after %v evictions, want 1 after at least 2", n, testutil.ToFloat64(metricEvictions.WithLabelValues(memoryPoolKey))-evictions)
	}
}
