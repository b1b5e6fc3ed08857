package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/dedupe/dedupetest"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/redistest"
)

// prefixSeq makes every store's keys unique, so the suite can share one
// server (or an external REDIS_URL) between subtests.
var prefixSeq atomic.Int64

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("scgate-test:%d:%d:", time.Now().UnixNano(), prefixSeq.Add(1))
}

// newRedisStore returns a started store on url (closed when t ends) with a
// generous timeout: the race detector and a busy CI machine slow the
// client, and these tests are about semantics, not latency.
func newRedisStore(t testing.TB, o dedupe.RedisOptions) *dedupe.RedisStore {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	s, err := dedupe.NewRedisStore(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Start()
	return s
}

func TestRedisStoreContract(t *testing.T) {
	url := redistest.URL(t)
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		return newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: uniquePrefix(t)})
	})
}

// The claim script is what a server before Redis 7.0 gets (SET refuses NX
// with GET there): it keeps the same contract.
func TestRedisStoreScriptClaimContract(t *testing.T) {
	url := redistest.URL(t)
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		s := newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: uniquePrefix(t)})
		dedupe.ForceScripts(s)
		return s
	})
}

func TestRedisStoreClusterContract(t *testing.T) {
	cl := redistest.StartCluster(t)
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		return newRedisStore(t, dedupe.RedisOptions{Addrs: cl.Addrs(), KeyPrefix: uniquePrefix(t)})
	})

	// Keys spread over the cluster's nodes: the store is not accidentally
	// working against one node only.
	s := newRedisStore(t, dedupe.RedisOptions{Addrs: cl.Addrs(), KeyPrefix: uniquePrefix(t)})
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if _, _, err := s.Claim(ctx, fmt.Sprint("spread", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range cl.Nodes {
		r, err := n.Do("DBSIZE")
		if err != nil || r == ":0" {
			t.Fatalf("node %s holds no key (DBSIZE %q, %v)", n.Addr(), r, err)
		}
	}
}

// TestRedisStoreTwoGateways runs two stores with separate clients (two
// gateways) on one server: they see each other's claims, and a claim taken
// over by the second is not released by the first (its late commit records
// the event delivered: see TestRedisStoreLateCommitOutlivesATakenClaim).
func TestRedisStoreTwoGateways(t *testing.T) {
	url := redistest.URL(t)
	prefix := uniquePrefix(t)
	a := newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: prefix})
	b := newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: prefix})
	ctx := context.Background()

	st, tokA, err := a.Claim(ctx, "e|1", 200*time.Millisecond)
	if err != nil || st != dedupe.Claimed {
		t.Fatalf("a claim: %v %v", st, err)
	}
	if st, _, err := b.Claim(ctx, "e|1", time.Hour); err != nil || st != dedupe.InFlight {
		t.Fatalf("b claim while a holds: %v %v", st, err)
	}
	// a's claim lapses; b takes the key.
	var tokB dedupe.Token
	eventually.Succeeds(t, 5*time.Second, func() error {
		var st dedupe.State
		var err error
		st, tokB, err = b.Claim(ctx, "e|1", time.Hour)
		switch {
		case err != nil:
			return eventually.Stop(err)
		case st != dedupe.Claimed:
			return fmt.Errorf("b's claim: %v, want claimed once a's lapses", st)
		}
		return nil
	})

	if tokA == tokB {
		t.Fatalf("two gateways drew the same token %d", tokA)
	}
	if err := a.Commit(ctx, "e|1", tokA, time.Hour); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("stale commit by a: %v, want ErrClaimLost", err)
	}
	if err := a.Release(ctx, "e|1", tokA); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("stale release by a: %v, want ErrClaimLost", err)
	}
	if err := b.Commit(ctx, "e|1", tokB, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _, err := a.Claim(ctx, "e|1", time.Hour); err != nil || st != dedupe.Done {
		t.Fatalf("a sees %v %v after b committed, want done", st, err)
	}
}

// TestRedisStoreLateCommitOutlivesATakenClaim: a's claim lapses while its
// upstream works, a copy reaches b, which claims the key and forwards it;
// then a's upstream accepts the event. a's commit records it delivered over
// b's claim (reporting the claim lost), so that when b's upstream fails and b
// releases, the event stays done: later copies are duplicates instead of
// being forwarded a third time. (With the commit script, a server before
// Redis 6.2, b's release freed the key.)
func TestRedisStoreLateCommitOutlivesATakenClaim(t *testing.T) {
	url := redistest.URL(t)
	prefix := uniquePrefix(t)
	a := newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: prefix, DoneCacheKeys: -1})
	b := newRedisStore(t, dedupe.RedisOptions{URL: url, KeyPrefix: prefix, DoneCacheKeys: -1})
	ctx := context.Background()

	_, tokA, err := a.Claim(ctx, "e|1", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var tokB dedupe.Token
	eventually.Succeeds(t, 5*time.Second, func() error {
		st, tok, err := b.Claim(ctx, "e|1", time.Hour)
		switch {
		case err != nil:
			return eventually.Stop(err)
		case st != dedupe.Claimed:
			return fmt.Errorf("b's claim: %v, want claimed once a's lapses", st)
		}
		tokB = tok
		return nil
	})
	if err := a.Commit(ctx, "e|1", tokA, time.Hour); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("a's late commit: %v, want ErrClaimLost", err)
	}
	if err := b.Release(ctx, "e|1", tokB); !errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("b's release after a's commit: %v, want ErrClaimLost (the event is done)", err)
	}
	for _, s := range []*dedupe.RedisStore{a, b} {
		if st, _, err := s.Claim(ctx, "e|1", time.Hour); err != nil || st != dedupe.Done {
			t.Fatalf("a copy after b released: %v %v, want done", st, err)
		}
	}
}

// TestRedisStoreKeysAndTTL checks what lands in Redis: the prefix, a fixed
// size digest instead of the event id, and the TTLs.
func TestRedisStoreKeysAndTTL(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedisStore(t, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: "gw:"})
	ctx := context.Background()
	_, tok, err := s.Claim(ctx, "screenshot.finished|sc_secret_id", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	k, err := srv.Do("KEYS", "*")
	if err != nil || strings.Contains(k, "\n") {
		t.Fatalf("keys = %q, %v; want one", k, err)
	}
	if !strings.HasPrefix(k, "gw:") || len(k) != len("gw:")+32 || strings.Contains(k, "sc_secret_id") {
		t.Fatalf("redis key %q: want gw: and 32 hex digits", k)
	}
	if pttl := pttlOf(t, srv, k); pttl <= 0 || pttl > 30*time.Second {
		t.Fatalf("in-flight PTTL = %v, want (0, 30s]", pttl)
	}
	if err := s.Commit(ctx, "screenshot.finished|sc_secret_id", tok, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if pttl := pttlOf(t, srv, k); pttl <= 71*time.Hour || pttl > 72*time.Hour {
		t.Fatalf("done PTTL = %v, want about 72h", pttl)
	}
}

func pttlOf(t *testing.T, srv *redistest.Server, key string) time.Duration {
	t.Helper()
	r, err := srv.Do("PTTL", key)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := strconv.ParseInt(strings.TrimPrefix(r, ":"), 10, 64)
	if err != nil {
		t.Fatalf("PTTL reply %q", r)
	}
	return time.Duration(ms) * time.Millisecond
}

// TestRedisStoreUnavailable: a stopped server is an error (never a state),
// and the store works again once the server is back.
func TestRedisStoreUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedisStore(t, dedupe.RedisOptions{URL: srv.URL(), Timeout: time.Second})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if st, tok, err := s.Claim(ctx, "k", time.Hour); !errors.Is(err, dedupe.ErrUnavailable) {
		t.Fatalf("claim with the server down: %v %v %v, want ErrUnavailable", st, tok, err)
	}
	if err := s.Release(ctx, "k", 1); !errors.Is(err, dedupe.ErrUnavailable) {
		t.Fatalf("release with the server down: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	// The restarted server has an empty script cache: EVALSHA falls back.
	if st := claimWhenBack(t, s, "k", 10*time.Second); st != dedupe.Claimed {
		t.Fatalf("claim after restart: %v", st)
	}
}

// claimWhenBack claims key until the store answers without an error (after
// a restart or a failover the client may need a few tries), failing the
// test if it still errs after within.
func claimWhenBack(t *testing.T, s dedupe.Store, key string, within time.Duration) dedupe.State {
	t.Helper()
	st, _ := claimWithToken(t, s, key, time.Hour, within)
	return st
}

// claimWithToken is claimWhenBack with the claim's inflight timeout, also
// returning the token.
func claimWithToken(t *testing.T, s dedupe.Store, key string, inflight, within time.Duration) (dedupe.State, dedupe.Token) {
	t.Helper()
	var st dedupe.State
	var tok dedupe.Token
	eventually.Succeeds(t, within, func() error {
		var err error
		st, tok, err = s.Claim(context.Background(), key, inflight)
		return err
	})
	return st, tok
}

// TestRedisStoreHonoursCallerContext: a cancelled request context stops the
// operation.
func TestRedisStoreHonoursCallerContext(t *testing.T) {
	s := newRedisStore(t, dedupe.RedisOptions{URL: redistest.URL(t), KeyPrefix: uniquePrefix(t), Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Claim(ctx, "k", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("claim with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestRedisOptionsCheck: settings errors are caught before anything
// connects, and never quote a URL (it may hold a password).
func TestRedisOptionsCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		o    dedupe.RedisOptions
		want string // "" = valid
	}{
		{"url", dedupe.RedisOptions{URL: "redis://127.0.0.1:1/0"}, ""},
		{"unix url", dedupe.RedisOptions{URL: "unix:///run/redis.sock"}, ""},
		{"tls url", dedupe.RedisOptions{URL: "rediss://u:p@h:1/2"}, ""},
		{"addresses", dedupe.RedisOptions{Addrs: []string{"h:1", "h:2"}, Password: "p", TLS: true}, ""},
		{"sentinel", dedupe.RedisOptions{Addrs: []string{"h:1"}, MasterName: "m"}, ""},
		{"nothing", dedupe.RedisOptions{}, "needs url or addresses"},
		{"both", dedupe.RedisOptions{URL: "redis://h:1", Addrs: []string{"h:1"}}, "not both"},
		{"url and password", dedupe.RedisOptions{URL: "redis://h:1", Password: "p"}, "go with addresses"},
		{"master without addresses", dedupe.RedisOptions{MasterName: "m", URL: "redis://h:1"}, "go with addresses"},
		{"bad address", dedupe.RedisOptions{Addrs: []string{"nohostport"}}, "not host:port"},
		{"bad url", dedupe.RedisOptions{URL: "http://user:hunter2@h:1/x"}, "details not shown"},
		{"bad db", dedupe.RedisOptions{URL: "redis://user:hunter2@h:1/x"}, "details not shown"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Check()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("Check quotes the password: %v", err)
			}
		})
	}
}

// TestRedisStoreCredentialsAndTLS: the password, ACL user and TLS settings
// reach the server, and a wrong one is a store error, never a state.
func TestRedisStoreCredentialsAndTLS(t *testing.T) {
	srv := redistest.Start(t)
	for _, cmd := range [][]string{
		{"ACL", "SETUSER", "gw", "on", ">gw-pass", "~*", "+@all"},
		{"CONFIG", "SET", "requirepass", "default-pass"},
	} {
		if r, err := srv.Do(cmd...); err != nil || r != "+OK" {
			t.Fatalf("%v: %q %v", cmd, r, err)
		}
	}
	for _, c := range []struct {
		name string
		o    dedupe.RedisOptions
		ok   bool
	}{
		{"addresses and password", dedupe.RedisOptions{Addrs: []string{srv.Addr()}, Password: "default-pass"}, true},
		{"addresses, user and password", dedupe.RedisOptions{Addrs: []string{srv.Addr()}, Username: "gw", Password: "gw-pass"}, true},
		{"url with password", dedupe.RedisOptions{URL: "redis://:default-pass@" + srv.Addr() + "/0"}, true},
		{"url with user", dedupe.RedisOptions{URL: "redis://gw:gw-pass@" + srv.Addr() + "/0"}, true},
		{"wrong password", dedupe.RedisOptions{Addrs: []string{srv.Addr()}, Password: "nope"}, false},
		{"no password", dedupe.RedisOptions{Addrs: []string{srv.Addr()}}, false},
		{"tls to a plain server", dedupe.RedisOptions{Addrs: []string{srv.Addr()}, Password: "default-pass", TLS: true}, false},
		{"rediss to a plain server", dedupe.RedisOptions{URL: "rediss://:default-pass@" + srv.Addr() + "/0"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.KeyPrefix = uniquePrefix(t)
			if !c.ok {
				// A TLS handshake with a plain server hangs until then.
				c.o.Timeout = 500 * time.Millisecond
			}
			s := newRedisStore(t, c.o)
			if c.ok {
				if st := claimWhenBack(t, s, "k", 10*time.Second); st != dedupe.Claimed {
					t.Fatalf("claim: %v", st)
				}
				return
			}
			if st, _, err := s.Claim(context.Background(), "k", time.Hour); !errors.Is(err, dedupe.ErrUnavailable) {
				t.Fatalf("claim: %v %v, want ErrUnavailable", st, err)
			}
		})
	}
}

// A store that is made and closed without a start (a config that is only
// validated) makes no connection; once started, it connects.
func TestRedisStoreConnectsAtStart(t *testing.T) {
	srv := redistest.Start(t)
	received := func() int64 {
		t.Helper()
		n, err := srv.ConnectionsReceived()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := received()
	s, err := dedupe.NewRedisStore(dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: uniquePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Start() // after Close: nothing
	if n := received() - before - 1; n != 0 {
		t.Errorf("a store never started made %d connections, want none", n)
	}

	before = received()
	started := newRedisStore(t, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: uniquePrefix(t)})
	mustClaim(t, started, "e|start", time.Minute, dedupe.Claimed)
	if n := received() - before - 1; n == 0 {
		t.Error("a started store made no connection")
	}
}
