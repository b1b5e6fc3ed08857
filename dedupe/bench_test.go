package dedupe_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/redistest"
)

// BenchmarkStoreClaimCommit measures a first-seen event's store work, a
// claim of a new key and its commit, on each backend. The redis case starts
// its own private redis-server (never the machine's shared one), so it also
// runs with -benchtime=1x in CI.
func BenchmarkStoreClaimCommit(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchClaimCommit(b, func() dedupe.Store { return dedupe.NewMemoryStore(0) })
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		opt, err := redis.ParseURL(srv.URL())
		if err != nil {
			b.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		benchClaimCommit(b, func() dedupe.Store {
			// An empty server for every batch, like a fresh memory store.
			if err := c.FlushAll(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
			return dedupe.NewRedisStore(c, "bench:", time.Second)
		})
	})
}

// benchClaimCommit claims and commits distinct keys, made before the timer
// runs. Every batch of keys gets a new, empty store from newStore, untimed,
// so a long run never fills a bounded store.
func benchClaimCommit(b *testing.B, newStore func() dedupe.Store) {
	ctx := context.Background()
	const batch = 1 << 16
	keys := make([]string, batch)
	for i := range keys {
		keys[i] = "screenshot.finished|sc_" + strconv.Itoa(1e9+i)
	}
	s := newStore()
	// Warm up untimed: the first call dials and loads the scripts.
	if _, tok, err := s.Claim(ctx, "warm-up", time.Minute); err != nil {
		b.Fatal(err)
	} else if err := s.Commit(ctx, "warm-up", tok, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			s.Close()
			s = newStore()
			i = 0
			b.StartTimer()
		}
		st, tok, err := s.Claim(ctx, keys[i], time.Minute)
		if err != nil || st != dedupe.Claimed {
			b.Fatal(st, err)
		}
		if err := s.Commit(ctx, keys[i], tok, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
	s.Close()
}
