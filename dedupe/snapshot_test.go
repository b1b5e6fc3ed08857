package dedupe_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/internal/testclock"
)

func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	a.SetClock(clock.Now)
	commit := func(key string, ttl time.Duration) {
		t.Helper()
		_, tok, err := a.Claim(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx, key, tok, ttl); err != nil {
			t.Fatal(err)
		}
	}
	commit("done-1", time.Hour)
	commit("done-2", time.Hour)
	commit("short", 50*time.Millisecond)
	if _, _, err := a.Claim(ctx, "in-flight", time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(100 * time.Millisecond) // "short" expires

	path := filepath.Join(t.TempDir(), "dedupe.snap")
	n, err := a.SaveSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("saved %d keys, want 2 (done, unexpired)", n)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("snapshot file: %v, mode %v; want owner-only", err, fi.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}

	b := dedupe.NewMemoryStore(0)
	defer b.Close()
	b.SetClock(clock.Now)
	n, err = b.LoadSnapshot(path)
	if err != nil || n != 2 {
		t.Fatalf("load: %d keys, %v; want 2", n, err)
	}
	for key, want := range map[string]dedupe.State{
		"done-1":    dedupe.Done,
		"done-2":    dedupe.Done,
		"short":     dedupe.Claimed, // expired before the save
		"in-flight": dedupe.Claimed, // claims are not saved
	} {
		st, _, err := b.Claim(ctx, key, time.Hour)
		if err != nil || st != want {
			t.Errorf("%s after load: %v %v, want %v", key, st, err, want)
		}
	}
}

func TestSnapshotKeepsExpiry(t *testing.T) {
	ctx := context.Background()
	clock := testclock.New()
	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	a.SetClock(clock.Now)
	_, tok, _ := a.Claim(ctx, "k", time.Hour)
	if err := a.Commit(ctx, "k", tok, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := a.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	b := dedupe.NewMemoryStore(0)
	defer b.Close()
	b.SetClock(clock.Now)
	clock.Advance(299 * time.Millisecond)
	if n, err := b.ReadSnapshot(bytes.NewReader(snap)); err != nil || n != 1 {
		t.Fatalf("read: %d %v", n, err)
	}
	// The restored key expires when the original would have, not later.
	if st, _, err := b.Claim(ctx, "k", time.Hour); err != nil || st != dedupe.Done {
		t.Fatalf("restored key 1ms before its expiry: %v %v, want done", st, err)
	}
	clock.Advance(time.Millisecond)
	if st, _, err := b.Claim(ctx, "k", time.Hour); err != nil || st != dedupe.Claimed {
		t.Fatalf("restored key at its expiry: %v %v, want claimed", st, err)
	}

	// Reading the same snapshot after that moment restores nothing.
	c := dedupe.NewMemoryStore(0)
	defer c.Close()
	c.SetClock(clock.Now)
	if n, err := c.ReadSnapshot(bytes.NewReader(snap)); err != nil || n != 0 {
		t.Fatalf("read of an expired snapshot: %d %v, want 0", n, err)
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	ctx := context.Background()
	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	for _, k := range []string{"a", "b", "c"} {
		_, tok, _ := a.Claim(ctx, k, time.Hour)
		_ = a.Commit(ctx, k, tok, time.Hour)
	}
	var buf bytes.Buffer
	if _, err := a.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	cases := map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not a snapshot at all, just some text\n"),
		"truncated": good[:len(good)-7],
		"bit flip":  flipped,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			s := dedupe.NewMemoryStore(0)
			defer s.Close()
			n, err := s.ReadSnapshot(bytes.NewReader(data))
			if !errors.Is(err, dedupe.ErrCorruptSnapshot) || n != 0 {
				t.Fatalf("read: %d, %v; want 0 and ErrCorruptSnapshot", n, err)
			}
			if s.Len() != 0 {
				t.Fatalf("a corrupt snapshot added %d keys", s.Len())
			}
		})
	}
}

func TestSnapshotMissingFile(t *testing.T) {
	s := dedupe.NewMemoryStore(0)
	defer s.Close()
	if _, err := s.LoadSnapshot(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load of a missing file: %v, want ErrNotExist", err)
	}
}

func TestSnapshotRespectsMaxKeys(t *testing.T) {
	ctx := context.Background()
	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	for _, k := range []string{"a", "b", "c", "d"} {
		_, tok, _ := a.Claim(ctx, k, time.Hour)
		_ = a.Commit(ctx, k, tok, time.Hour)
	}
	var buf bytes.Buffer
	if _, err := a.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	b := dedupe.NewMemoryStore(2)
	defer b.Close()
	if n, err := b.ReadSnapshot(&buf); err != nil || n != 2 || b.Len() != 2 {
		t.Fatalf("read into a store bounded to 2: %d %v (len %d)", n, err, b.Len())
	}
}
