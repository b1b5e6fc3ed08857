package dedupe_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/redistest"
)

// BenchmarkStoreClaimCommit measures a first-seen event's store work, a
// claim of a new key and its commit, on each backend, one call at a time.
// The redis case starts its own private redis-server (never the machine's
// shared one), so it also runs with -benchtime=1x in CI.
func BenchmarkStoreClaimCommit(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchClaimCommit(b, func() dedupe.Store { return dedupe.NewMemoryStore(0) })
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		benchClaimCommit(b, func() dedupe.Store {
			// An empty server for every batch, like a fresh memory store.
			if r, err := srv.Do("FLUSHALL"); err != nil || r != "+OK" {
				b.Fatal(r, err)
			}
			return newRedisStore(b, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: "bench:", Timeout: time.Second})
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
	warmUp(b, s)
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

// warmUp makes the first calls untimed: they connect and load the scripts.
func warmUp(b *testing.B, s dedupe.Store) {
	ctx := context.Background()
	if _, tok, err := s.Claim(ctx, "warm-up", time.Minute); err != nil {
		b.Fatal(err)
	} else if err := s.Commit(ctx, "warm-up", tok, time.Minute); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRedisParallel measures the Redis store under concurrency, as a
// gateway uses it: many goroutines, each a request. "new" claims and
// commits a key never seen (two scripts); "duplicate" claims a key that is
// done (one script, or none when the local cache knows it). Concurrent calls
// share round trips, so ns/op is the store's throughput cost per event.
func BenchmarkRedisParallel(b *testing.B) {
	srv := redistest.Start(b)
	for _, par := range []int{4, 32} {
		b.Run(fmt.Sprintf("new/goroutines=%d", par*2), func(b *testing.B) {
			s := newRedisStore(b, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: "bench:" + b.Name() + ":", Timeout: 5 * time.Second})
			warmUp(b, s)
			var seq atomic.Int64
			b.SetParallelism(par)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					key := "screenshot.finished|sc_" + strconv.FormatInt(seq.Add(1), 10)
					st, tok, err := s.Claim(ctx, key, time.Minute)
					if err != nil || st != dedupe.Claimed {
						b.Error(st, err)
						return
					}
					if err := s.Commit(ctx, key, tok, time.Minute); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	for _, cache := range []int{-1, 0} {
		name := "duplicate/cache"
		if cache < 0 {
			name = "duplicate/nocache"
		}
		b.Run(name, func(b *testing.B) {
			s := newRedisStore(b, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: "bench:" + b.Name() + ":", Timeout: 5 * time.Second, DoneCacheKeys: cache})
			warmUp(b, s)
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if st, _, err := s.Claim(ctx, "warm-up", time.Minute); err != nil || st != dedupe.Done {
						b.Error(st, err)
						return
					}
				}
			})
		})
	}
}
