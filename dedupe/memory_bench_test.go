package dedupe_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
)

// BenchmarkMemoryClaimCommit measures a first-seen event's store work: one
// claim of a new key and its commit. Keys are made before the timer runs.
func BenchmarkMemoryClaimCommit(b *testing.B) {
	ctx := context.Background()
	const batch = 1 << 16
	keys := make([]string, batch)
	for i := range keys {
		keys[i] = "screenshot.finished|sc_" + strconv.Itoa(1e9+i)
	}
	s := dedupe.NewMemoryStore(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			// Every key was used: start over with an empty store, untimed.
			b.StopTimer()
			s.Close()
			s = dedupe.NewMemoryStore(0)
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
}

// BenchmarkMemoryDuplicate measures the answer to a retried event.
func BenchmarkMemoryDuplicate(b *testing.B) {
	ctx := context.Background()
	s := dedupe.NewMemoryStore(0)
	_, tok, _ := s.Claim(ctx, "screenshot.finished|sc_1", time.Minute)
	_ = s.Commit(ctx, "screenshot.finished|sc_1", tok, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if st, _, err := s.Claim(ctx, "screenshot.finished|sc_1", time.Minute); err != nil || st != dedupe.Done {
			b.Fatal(st, err)
		}
	}
}
