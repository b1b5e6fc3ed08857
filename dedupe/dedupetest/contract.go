// Package dedupetest is the contract every dedupe.Store backend must pass.
// Each backend's tests call Run with a constructor of a fresh, empty store.
package dedupetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/eventually"
)

// Run runs the contract suite. newStore must return an empty store whose
// keys do not collide with any other call's store.
func Run(t *testing.T, newStore func(t *testing.T) dedupe.Store) {
	ctx := context.Background()
	const long = time.Hour

	t.Run("ClaimCommitDuplicate", func(t *testing.T) {
		s := newStore(t)
		st, tok, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Claimed)
		st, _, err = s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.InFlight)
		if err := s.Commit(ctx, "k", tok, long); err != nil {
			t.Fatalf("commit: %v", err)
		}
		st, _, err = s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
	})

	t.Run("ReleaseLetsRetryThrough", func(t *testing.T) {
		s := newStore(t)
		_, tok, err := s.Claim(ctx, "k", long)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, "k", tok); err != nil {
			t.Fatalf("release: %v", err)
		}
		st, tok2, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Claimed)
		if tok2 == tok {
			t.Fatalf("a new claim reused token %d", tok)
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		s := newStore(t)
		_, tok, _ := s.Claim(ctx, "screenshot.finished|sc_1", long)
		_ = s.Commit(ctx, "screenshot.finished|sc_1", tok, long)
		st, _, err := s.Claim(ctx, "app.upload.finished|sc_1", long)
		mustState(t, st, err, dedupe.Claimed)
	})

	t.Run("InFlightExpires", func(t *testing.T) {
		s := newStore(t)
		_, tok, err := s.Claim(ctx, "k", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, s, "k", dedupe.Claimed, 5*time.Second)
		// The first claimant comes back late: it must not touch the new claim.
		if err := s.Release(ctx, "k", tok); !errors.Is(err, dedupe.ErrClaimLost) {
			t.Fatalf("stale release: err = %v, want ErrClaimLost", err)
		}
		if err := s.Commit(ctx, "k", tok, long); !errors.Is(err, dedupe.ErrClaimLost) {
			t.Fatalf("stale commit: err = %v, want ErrClaimLost", err)
		}
		// The stale commit recorded the event as delivered (it was: the
		// upstream accepted it), over the claim that took the key: no copy
		// may be forwarded again, even when that claim's own delivery fails
		// and it releases.
		st, _, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
	})

	t.Run("LateCommitOutlivesATakenClaim", func(t *testing.T) {
		s := newStore(t)
		_, stale, err := s.Claim(ctx, "k", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		var taker dedupe.Token
		eventually.Succeeds(t, 5*time.Second, func() error {
			st, tok, err := s.Claim(ctx, "k", long)
			if err != nil {
				return eventually.Stop(err)
			}
			if st != dedupe.Claimed {
				return fmt.Errorf("state %v, want claimed once the first claim lapsed", st)
			}
			taker = tok
			return nil
		})
		if err := s.Commit(ctx, "k", stale, long); !errors.Is(err, dedupe.ErrClaimLost) {
			t.Fatalf("late commit: err = %v, want ErrClaimLost", err)
		}
		// The taker's upstream fails: its release must not free the key.
		if err := s.Release(ctx, "k", taker); !errors.Is(err, dedupe.ErrClaimLost) {
			t.Fatalf("taker's release after the late commit: err = %v, want ErrClaimLost", err)
		}
		st, _, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
		// Its commit, had its upstream accepted too, is no error.
		if err := s.Commit(ctx, "k", taker, long); err != nil {
			t.Fatalf("taker's commit after the late commit: %v", err)
		}
	})

	t.Run("CommitAfterExpiryWithNoTakerStillRecords", func(t *testing.T) {
		s := newStore(t)
		_, tok, _ := s.Claim(ctx, "k", 50*time.Millisecond)
		time.Sleep(150 * time.Millisecond)
		if err := s.Commit(ctx, "k", tok, long); err != nil {
			t.Fatalf("commit: %v", err)
		}
		st, _, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
	})

	t.Run("TTLExpires", func(t *testing.T) {
		s := newStore(t)
		_, tok, _ := s.Claim(ctx, "k", long)
		if err := s.Commit(ctx, "k", tok, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		st, _, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
		waitState(t, s, "k", dedupe.Claimed, 5*time.Second)
	})

	t.Run("ReleaseOfDoneKeyIsRefused", func(t *testing.T) {
		s := newStore(t)
		_, tok, _ := s.Claim(ctx, "k", long)
		_ = s.Commit(ctx, "k", tok, long)
		if err := s.Release(ctx, "k", tok); !errors.Is(err, dedupe.ErrClaimLost) {
			t.Fatalf("release after commit: err = %v, want ErrClaimLost", err)
		}
		st, _, err := s.Claim(ctx, "k", long)
		mustState(t, st, err, dedupe.Done)
	})

	t.Run("OneWinnerAmongManyGoroutines", func(t *testing.T) {
		s := newStore(t)
		const n = 64
		var wins, inflight atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				st, _, err := s.Claim(ctx, "race", long)
				if err != nil {
					t.Error(err)
					return
				}
				switch st {
				case dedupe.Claimed:
					wins.Add(1)
				case dedupe.InFlight:
					inflight.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || inflight.Load() != n-1 {
			t.Fatalf("wins = %d, in flight = %d; want 1 and %d", wins.Load(), inflight.Load(), n-1)
		}
	})

	t.Run("ManyKeysConcurrently", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					key := fmt.Sprintf("k%d", i)
					st, tok, err := s.Claim(ctx, key, long)
					if err != nil {
						t.Error(err)
						return
					}
					if st == dedupe.Claimed {
						if i%2 == 0 {
							err = s.Commit(ctx, key, tok, long)
						} else {
							err = s.Release(ctx, key, tok)
						}
						if err != nil {
							t.Error(err)
						}
					}
				}
			}()
		}
		wg.Wait()
		for i := 0; i < 50; i++ {
			st, _, err := s.Claim(ctx, fmt.Sprintf("k%d", i), long)
			want := dedupe.Done
			if i%2 == 1 {
				want = dedupe.Claimed
			}
			mustState(t, st, err, want)
		}
	})

	t.Run("CloseTwice", func(t *testing.T) {
		s := newStore(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})
}

func mustState(t *testing.T, got dedupe.State, err error, want dedupe.State) {
	t.Helper()
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	if got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}

// waitState claims key until it answers want or timeout passes. Only use it
// with want == Claimed (it takes the key when it succeeds).
func waitState(t *testing.T, s dedupe.Store, key string, want dedupe.State, timeout time.Duration) {
	t.Helper()
	eventually.Succeeds(t, timeout, func() error {
		st, _, err := s.Claim(context.Background(), key, time.Hour)
		switch {
		case err != nil:
			return eventually.Stop(err)
		case st != want:
			return fmt.Errorf("key %q is %v, want %v", key, st, want)
		}
		return nil
	})

}
