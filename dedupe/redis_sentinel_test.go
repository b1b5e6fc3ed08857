package dedupe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/dedupe/dedupetest"
	"github.com/scgate/scgate/internal/redistest"
)

// sentinelOptions are the options of a store on s's Sentinels, as the Caddy
// module builds them (addresses and master_name).
func sentinelOptions(t *testing.T, s *redistest.Sentinel) dedupe.RedisOptions {
	return dedupe.RedisOptions{MasterName: redistest.MasterName, Addrs: s.Addrs(), KeyPrefix: uniquePrefix(t)}
}

func TestRedisStoreSentinelContract(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 3})
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		return newRedisStore(t, sentinelOptions(t, s))
	})
	// The keys are on the master the Sentinels name (the Sentinels
	// themselves hold no data, so the suite could not pass against them).
	if r, err := s.Master.Do("DBSIZE"); err != nil || r == ":0" {
		t.Fatalf("master DBSIZE %q (%v): the store wrote nothing there", r, err)
	}
}

// TestRedisStoreSentinelFailover: done keys written through Sentinel survive
// a failover to a replica (the old master is then killed, so they can only
// come from the promoted one), and the client writes to the new master.
func TestRedisStoreSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 1, Replicas: 1})
	o := sentinelOptions(t, s)
	// No local cache: the done keys must come from the promoted replica.
	o.DoneCacheKeys = -1
	store := newRedisStore(t, o)
	ctx := context.Background()

	const n = 20
	for i := 0; i < n; i++ {
		key := fmt.Sprint("done", i)
		st, tok, err := store.Claim(ctx, key, time.Hour)
		if err != nil || st != dedupe.Claimed {
			t.Fatalf("claim %s: %v %v", key, st, err)
		}
		if err := store.Commit(ctx, key, tok, time.Hour); err != nil {
			t.Fatalf("commit %s: %v", key, err)
		}
	}
	// Held in flight across the failover: still in flight after it.
	if st, _, err := store.Claim(ctx, "inflight", time.Hour); err != nil || st != dedupe.Claimed {
		t.Fatalf("claim inflight: %v %v", st, err)
	}
	old := s.Master
	// Redis replication is asynchronous: a failover may lose the last
	// writes. Wait for the replica so the test checks the client and the
	// store, not that race.
	s.WaitReplicated()
	s.Failover()
	old.Stop()
	if s.Master == old {
		t.Fatal("the master did not change")
	}

	// The client may still hold connections to the killed master: the
	// first operations can fail until it asks the Sentinel again.
	if st := claimWhenBack(t, store, "done0", 15*time.Second); st != dedupe.Done {
		t.Fatalf("done0 after the failover: %v, want done", st)
	}
	for i := 1; i < n; i++ {
		key := fmt.Sprint("done", i)
		if st, _, err := store.Claim(ctx, key, time.Hour); err != nil || st != dedupe.Done {
			t.Errorf("%s after the failover: %v %v, want done", key, st, err)
		}
	}
	if st, _, err := store.Claim(ctx, "inflight", time.Hour); err != nil || st != dedupe.InFlight {
		t.Errorf("inflight after the failover: %v %v, want in flight", st, err)
	}
	// A write: only a master takes it.
	st, tok, err := store.Claim(ctx, "new", time.Hour)
	if err != nil || st != dedupe.Claimed {
		t.Fatalf("new claim after the failover: %v %v", st, err)
	}
	if err := store.Commit(ctx, "new", tok, time.Hour); err != nil {
		t.Fatalf("commit after the failover: %v", err)
	}
	if r, err := s.Master.Do("DBSIZE"); err != nil || r != fmt.Sprintf(":%d", n+2) {
		t.Fatalf("new master DBSIZE %q (%v), want %d keys", r, err, n+2)
	}
}
