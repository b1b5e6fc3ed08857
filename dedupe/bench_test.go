package dedupe_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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
// commits a key never seen (two plain SETs, or two scripts); "duplicate" claims a key that is
// done (one script, or none when the local cache knows it). Concurrent calls
// share round trips, so ns/op is the store's throughput cost per event.
func BenchmarkRedisParallel(b *testing.B) {
	srv := redistest.Start(b)
	// One sequence for every round: b.N grows over rounds on the same keys.
	var seq atomic.Int64
	for _, cmds := range []string{"plain", "script"} {
		for _, par := range []int{4, 32} {
			b.Run(fmt.Sprintf("new/commands=%s/goroutines=%d", cmds, par*2), func(b *testing.B) {
				s := newRedisStore(b, dedupe.RedisOptions{URL: srv.URL(), KeyPrefix: "bench:" + b.Name() + ":", Timeout: 5 * time.Second})
				if cmds == "script" {
					// Claim and commit as Lua scripts, as against a
					// server before Redis 7.0.
					dedupe.ForceScripts(s)
				}
				benchNewEvents(b, s, srv, par, &seq)
			})
		}
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
			defer measureProcess(b)()
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

// benchNewEvents claims and commits keys never seen, from par*GOMAXPROCS
// goroutines, reporting this process's and the server's CPU per event.
func benchNewEvents(b *testing.B, s *dedupe.RedisStore, srv *redistest.Server, par int, seq *atomic.Int64) {
	warmUp(b, s)
	b.SetParallelism(par)
	b.ReportAllocs()
	defer measureProcess(b)()
	defer measureServer(b, srv)()
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
}

// measureProcess reports, per operation, the CPU time of this process
// (user+system: the client's work, the server's is not in it) and its read
// and write system calls (/proc/self/io; Linux only, else not reported).
// Call the function it returns when the timed part ends.
func measureProcess(b *testing.B) func() {
	cpu0, r0, w0, ok0 := processCounters()
	return func() {
		cpu1, r1, w1, ok1 := processCounters()
		n := float64(b.N)
		b.ReportMetric(float64(cpu1-cpu0)/n, "cpu-ns/op")
		if ok0 && ok1 {
			b.ReportMetric(float64(r1-r0)/n, "reads/op")
			b.ReportMetric(float64(w1-w0)/n, "writes/op")
		}
	}
}

// measureServer reports the redis-server's CPU time per operation
// (server-ns/op). Call the function it returns when the timed part ends.
func measureServer(b *testing.B, srv *redistest.Server) func() {
	cpu0, err := srv.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		cpu1, err := srv.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "server-ns/op")
	}
}

func processCounters() (cpu time.Duration, reads, writes int64, ok bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return cpu, 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, found := strings.CutPrefix(line, "syscr: "); found {
			reads, _ = strconv.ParseInt(v, 10, 64)
		} else if v, found := strings.CutPrefix(line, "syscw: "); found {
			writes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return cpu, reads, writes, true
}
