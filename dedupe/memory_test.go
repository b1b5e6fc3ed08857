package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/dedupe/dedupetest"
	"github.com/scgate/scgate/internal/testclock"
)

func TestMemoryStoreContract(t *testing.T) {
	dedupetest.Run(t, func(t *testing.T) dedupe.Store {
		s := dedupe.NewMemoryStore(0)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMemoryStoreMaxKeys(t *testing.T) {
	ctx := context.Background()
	s := dedupe.NewMemoryStore(3)
	defer s.Close()
	for i := 0; i < 3; i++ {
		if st, _, err := s.Claim(ctx, fmt.Sprint(i), time.Hour); err != nil || st != dedupe.Claimed {
			t.Fatalf("claim %d: %v %v", i, st, err)
		}
	}
	if _, _, err := s.Claim(ctx, "x", time.Hour); !errors.Is(err, dedupe.ErrFull) {
		t.Fatalf("claim past the bound: err = %v, want ErrFull", err)
	}
	// Known keys still answer when full: a duplicate is still a duplicate.
	if st, _, err := s.Claim(ctx, "0", time.Hour); err != nil || st != dedupe.InFlight {
		t.Fatalf("claim of a held key when full: %v %v", st, err)
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	// Raising the bound (a reload with a larger max_keys) lets claims in.
	s.SetMaxKeys(4)
	if st, _, err := s.Claim(ctx, "x", time.Hour); err != nil || st != dedupe.Claimed {
		t.Fatalf("claim after raising the bound: %v %v", st, err)
	}
}

func TestMemoryStoreFullSweepsExpired(t *testing.T) {
	ctx := context.Background()
	s := dedupe.NewMemoryStore(2)
	defer s.Close()
	clock := testclock.New()
	s.SetClock(clock.Now)
	s.Claim(ctx, "a", 30*time.Millisecond)
	s.Claim(ctx, "b", 30*time.Millisecond)
	clock.Advance(80 * time.Millisecond)
	if st, _, err := s.Claim(ctx, "c", time.Hour); err != nil || st != dedupe.Claimed {
		t.Fatalf("claim after expiry on a full store: %v %v", st, err)
	}
}

// TestMemoryStoreBytesPerKey measures the live heap per committed key at
// 1,000,000 keys (a realistic key, ~35 bytes) and holds it to the project's
// bound of 128 bytes per key.
func TestMemoryStoreBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1M keys")
	}
	const n = 1_000_000
	ctx := context.Background()
	var before, after runtime.MemStats
	// Twice: a store of an earlier run (-count) is only unreachable once
	// the finalizer that stops its sweeper has run.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := dedupe.NewMemoryStore(n)
	t.Cleanup(func() { s.Close() })
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("screenshot.finished|sc_%012d", i)
		_, tok, err := s.Claim(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, key, tok, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown <= 0 {
		t.Fatalf("heap did not grow (%d bytes): the measurement is invalid", grown)
	}
	perKey := float64(grown) / n
	t.Logf("memory store: %.1f bytes of live heap per key at %d keys", perKey, n)
	if perKey > 128 {
		t.Fatalf("%.1f bytes of live heap per key, want at most 128", perKey)
	}
}
