package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/recovery"
	"github.com/scgate/scgate/internal/recovery/recoverytest"
	"github.com/scgate/scgate/internal/redistest"
)

// A panic in the Redis store's health loop is logged and counted, and the
// loop goes on: a commit queued after it is still written to Redis.
func TestRedisHealthLoopSurvivesPanic(t *testing.T) {
	before := testutil.ToFloat64(recovery.Panics.WithLabelValues("dedupe.redis_health"))
	log, _ := recoverytest.PanicOn("queued dedupe commits retried", 1)
	srv := redistest.Start(t)
	s := newRedisStore(t, dedupe.RedisOptions{URL: srv.URL(), Timeout: time.Second, ProbeInterval: 20 * time.Millisecond, Logger: log})
	other := newRedisStore(t, dedupe.RedisOptions{URL: srv.URL(), DoneCacheKeys: -1})
	for i := range 2 {
		key := fmt.Sprintf("e|panic%d", i)
		tok := mustClaim(t, s, key, time.Hour, dedupe.Claimed)
		srv.Pause()
		if err := s.Commit(context.Background(), key, tok, time.Hour); !errors.Is(err, dedupe.ErrCommitPending) {
			srv.Resume()
			t.Fatalf("commit on a hung server: %v, want ErrCommitPending", err)
		}
		srv.Resume()
		eventually.Succeeds(t, 10*time.Second, func() error {
			if n := s.PendingCommits(); n != 0 {
				return fmt.Errorf("%d commits still queued", n)
			}
			return nil
		})
		mustClaim(t, other, key, time.Hour, dedupe.Done)
	}
	if got := testutil.ToFloat64(recovery.Panics.WithLabelValues("dedupe.redis_health")) - before; got != 1 {
		t.Fatalf("panics counted: %v, want 1", got)
	}
}

// A panic in the snapshot ticker is logged and counted, and the ticker
// goes on: a key committed after it is in the next snapshot.
func TestSnapshotLoopSurvivesPanic(t *testing.T) {
	before := testutil.ToFloat64(recovery.Panics.WithLabelValues("dedupe.snapshot"))
	log, made := recoverytest.PanicOn("dedupe snapshot written", 1)
	path := filepath.Join(t.TempDir(), "snap")
	p := dedupe.NewPersistedStore(100, path, 10*time.Millisecond, log)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	commit := func(key string) {
		t.Helper()
		_, tok, err := p.Claim(context.Background(), key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Commit(context.Background(), key, tok, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	commit("a")
	eventually.Succeeds(t, 10*time.Second, func() error {
		if made.Load() == 0 {
			return errors.New("no snapshot written yet")
		}
		return nil
	})
	commit("b")
	eventually.Succeeds(t, 10*time.Second, func() error {
		m := dedupe.NewMemoryStore(100)
		defer m.Close()
		n, err := m.LoadSnapshot(path)
		if err != nil || n != 2 {
			return fmt.Errorf("snapshot has %d keys (%v), want 2", n, err)
		}
		return nil
	})
	if got := testutil.ToFloat64(recovery.Panics.WithLabelValues("dedupe.snapshot")) - before; got != 1 {
		t.Fatalf("panics counted: %v, want 1", got)
	}
}
