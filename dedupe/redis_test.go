package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/dedupe/dedupetest"
	"github.com/scgate/scgate/internal/redistest"
)

// prefixSeq makes every store's keys unique, so the suite can share one
// server (or an external REDIS_URL) between subtests.
var prefixSeq atomic.Int64

func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("scgate-test:%d:%d:", time.Now().UnixNano(), prefixSeq.Add(1))
}

func newRedisClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisStoreContract(t *testing.T) {
	c := newRedisClient(t, redistest.URL(t))
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		// A generous timeout: the race detector and a busy CI machine slow
		// the client, and the suite is about semantics, not latency.
		return dedupe.NewRedisStore(c, uniquePrefix(t), 5*time.Second)
	})
}

func TestRedisStoreClusterContract(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { c.Close() })
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("client for %d seeds is %T, want a cluster client", len(cl.Addrs()), c)
	}
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		return dedupe.NewRedisStore(c, uniquePrefix(t), 5*time.Second)
	})

	// Keys spread over the cluster's nodes: the store is not accidentally
	// working against one node only.
	s := dedupe.NewRedisStore(c, uniquePrefix(t), 5*time.Second)
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
// over by the second is not touched by the first.
func TestRedisStoreTwoGateways(t *testing.T) {
	url := redistest.URL(t)
	prefix := uniquePrefix(t)
	a := dedupe.NewRedisStore(newRedisClient(t, url), prefix, 5*time.Second)
	b := dedupe.NewRedisStore(newRedisClient(t, url), prefix, 5*time.Second)
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, tokB, err = b.Claim(ctx, "e|1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if st == dedupe.Claimed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never took the lapsed claim (state %v)", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// TestRedisStoreKeysAndTTL checks what lands in Redis: the prefix, a fixed
// size digest instead of the event id, and the TTLs.
func TestRedisStoreKeysAndTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := newRedisClient(t, srv.URL())
	s := dedupe.NewRedisStore(c, "gw:", 0)
	ctx := context.Background()
	_, tok, err := s.Claim(ctx, "screenshot.finished|sc_secret_id", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	k := keys[0]
	if !strings.HasPrefix(k, "gw:") || len(k) != len("gw:")+32 || strings.Contains(k, "sc_secret_id") {
		t.Fatalf("redis key %q: want gw: and 32 hex digits", k)
	}
	if pttl := c.PTTL(ctx, k).Val(); pttl <= 0 || pttl > 30*time.Second {
		t.Fatalf("in-flight PTTL = %v, want (0, 30s]", pttl)
	}
	if err := s.Commit(ctx, "screenshot.finished|sc_secret_id", tok, 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	if pttl := c.PTTL(ctx, k).Val(); pttl <= 71*time.Hour || pttl > 72*time.Hour {
		t.Fatalf("done PTTL = %v, want about 72h", pttl)
	}
}

// TestRedisStoreUnavailable: a stopped server is an error (never a state),
// and the store works again once the server is back.
func TestRedisStoreUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	c := newRedisClient(t, srv.URL())
	s := dedupe.NewRedisStore(c, "", 250*time.Millisecond)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if st, tok, err := s.Claim(ctx, "k", time.Hour); err == nil {
		t.Fatalf("claim with the server down: %v %v, want an error", st, tok)
	}
	if err := s.Commit(ctx, "k", 1, time.Hour); err == nil || errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("commit with the server down: %v, want a store error", err)
	}
	if err := s.Release(ctx, "k", 1); err == nil || errors.Is(err, dedupe.ErrClaimLost) {
		t.Fatalf("release with the server down: %v, want a store error", err)
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
	deadline := time.Now().Add(within)
	for {
		st, _, err := s.Claim(context.Background(), key, time.Hour)
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing after %v: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisStoreHonoursCallerContext: a cancelled request context stops the
// operation.
func TestRedisStoreHonoursCallerContext(t *testing.T) {
	c := newRedisClient(t, redistest.URL(t))
	s := dedupe.NewRedisStore(c, uniquePrefix(t), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Claim(ctx, "k", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("claim with a cancelled context: %v, want context.Canceled", err)
	}
}
