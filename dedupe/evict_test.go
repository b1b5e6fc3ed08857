package dedupe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strconv"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/testclock"
)

func newClockedStore(max int) (*MemoryStore, *testclock.Clock) {
	c := testclock.New()
	s := NewMemoryStore(max)
	s.SetClock(c.Now)
	return s, c
}

func deliver(t *testing.T, s *MemoryStore, key string, ttl time.Duration) {
	t.Helper()
	st, tok, err := s.Claim(context.Background(), key, time.Minute)
	if err != nil || st != Claimed {
		t.Fatalf("claim %s: %v %v", key, st, err)
	}
	if err := s.Commit(context.Background(), key, tok, ttl); err != nil {
		t.Fatalf("commit %s: %v", key, err)
	}
}

func stateOf(t *testing.T, s *MemoryStore, key string) State {
	t.Helper()
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state(d, s.now().UnixNano())
}

// A full store makes room by evicting the oldest delivered keys, one per
// new event, and reports each eviction with the key's age.
func TestFullStoreEvictsOldestDelivered(t *testing.T) {
	s, clock := newClockedStore(3)
	var evicted []time.Duration
	s.OnEvict(func(e Eviction) { evicted = append(evicted, e.Age) })
	for i := 0; i < 3; i++ {
		deliver(t, s, "k"+strconv.Itoa(i), time.Hour)
		clock.Advance(time.Minute)
	}
	deliver(t, s, "new", time.Hour)
	if got := stateOf(t, s, "k0"); got != Claimed {
		t.Errorf("oldest key after an eviction: %v, want gone", got)
	}
	for _, k := range []string{"k1", "k2", "new"} {
		if got := stateOf(t, s, k); got != Done {
			t.Errorf("%s: %v, want done", k, got)
		}
	}
	if len(evicted) != 1 || evicted[0] != 3*time.Minute || s.Evictions() != 1 {
		t.Errorf("evictions %v (count %d), want one of a key 3m old", evicted, s.Evictions())
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want the bound 3", s.Len())
	}
}

// Claims in flight are never evicted: with every key in flight a new
// event is refused, and delivered keys go first.
func TestFullStoreNeverEvictsInFlight(t *testing.T) {
	ctx := context.Background()
	s, _ := newClockedStore(3)
	for _, k := range []string{"a", "b"} {
		if st, _, err := s.Claim(ctx, k, time.Hour); err != nil || st != Claimed {
			t.Fatal(st, err)
		}
	}
	deliver(t, s, "done", time.Hour)
	if st, _, err := s.Claim(ctx, "c", time.Hour); err != nil || st != Claimed {
		t.Fatalf("claim with a delivered key to evict: %v %v", st, err)
	}
	if _, _, err := s.Claim(ctx, "d", time.Hour); !errors.Is(err, ErrFull) {
		t.Fatalf("claim with every key in flight: %v, want ErrFull", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if got := stateOf(t, s, k); got != InFlight {
			t.Errorf("%s: %v, want still in flight", k, got)
		}
	}
}

// Expired keys at the front are dropped without counting as evictions;
// a key committed again after it expired is ordered by its new commit.
func TestEvictionSkipsExpiredAndRecommitted(t *testing.T) {
	s, clock := newClockedStore(2)
	s.OnEvict(func(Eviction) {})
	deliver(t, s, "short", time.Second)
	deliver(t, s, "long", time.Hour)
	clock.Advance(2 * time.Second)
	deliver(t, s, "short", time.Hour) // expired, delivered again
	if s.Evictions() != 0 {
		t.Fatalf("evictions %d: an expired key made room without counting", s.Evictions())
	}
	deliver(t, s, "third", time.Hour) // full: the oldest commit, "long", goes
	if stateOf(t, s, "long") != Claimed || stateOf(t, s, "short") != Done || stateOf(t, s, "third") != Done {
		t.Fatalf("after the eviction: long %v, short %v, third %v", stateOf(t, s, "long"), stateOf(t, s, "short"), stateOf(t, s, "third"))
	}
}

// Snapshots keep the commit order and times, so eviction after a restart
// still takes the oldest; the first format is still read.
func TestSnapshotKeepsCommitOrder(t *testing.T) {
	s, clock := newClockedStore(10)
	for _, k := range []string{"a", "b", "c"} {
		deliver(t, s, k, time.Hour)
		clock.Advance(time.Minute)
	}
	var buf bytes.Buffer
	if _, err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, rclock := newClockedStore(3)
	rclock.Set(clock.Now())
	var ages []time.Duration
	r.OnEvict(func(e Eviction) { ages = append(ages, e.Age) })
	if n, err := r.ReadSnapshot(&buf); n != 3 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	deliver(t, r, "d", time.Hour)
	if stateOf(t, r, "a") != Claimed || len(ages) != 1 || ages[0] != 3*time.Minute {
		t.Fatalf("after a restart the oldest goes first with its age: a %v, ages %v", stateOf(t, r, "a"), ages)
	}

	// Format 1: digest and expiry, in no order.
	v1 := []byte(snapshotMagicV1)
	for _, k := range []struct {
		key string
		exp time.Duration
	}{{"late", 3 * time.Hour}, {"early", time.Hour}} {
		d := digest(k.key)
		v1 = append(v1, d[:]...)
		v1 = binary.BigEndian.AppendUint64(v1, uint64(clock.Now().Add(k.exp).UnixNano()))
	}
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, crcTable))
	old, oclock := newClockedStore(2)
	oclock.Set(clock.Now())
	if n, err := old.ReadSnapshot(bytes.NewReader(v1)); n != 2 || err != nil {
		t.Fatalf("format 1: read %d, %v", n, err)
	}
	deliver(t, old, "new", time.Hour)
	if stateOf(t, old, "early") != Claimed || stateOf(t, old, "late") != Done {
		t.Fatal("format 1: the key expiring first must be evicted first")
	}
}

// A snapshot larger than the store's bound keeps its newest keys, as a full
// store's eviction would (the oldest are the least likely to be retried),
// queued oldest first; keys the store holds already take their room first.
func TestSnapshotIntoSmallerStoreKeepsNewest(t *testing.T) {
	s, clock := newClockedStore(10)
	keys := []string{"a", "b", "c", "d", "e"}
	for _, k := range keys {
		deliver(t, s, k, time.Hour)
		clock.Advance(time.Minute)
	}
	var buf bytes.Buffer
	if _, err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	snapshot := buf.Bytes()

	r, rclock := newClockedStore(2)
	rclock.Set(clock.Now())
	if n, err := r.ReadSnapshot(bytes.NewReader(snapshot)); n != 2 || err != nil {
		t.Fatalf("read %d, %v; want 2", n, err)
	}
	for _, k := range keys {
		want := Claimed
		if k == "d" || k == "e" {
			want = Done
		}
		if got := stateOf(t, r, k); got != want {
			t.Errorf("after reading 5 keys into 2: %s is %v, want %v", k, got, want)
		}
	}
	// The kept keys are queued in commit order: a new event evicts d.
	var ages []time.Duration
	r.OnEvict(func(e Eviction) { ages = append(ages, e.Age) })
	deliver(t, r, "f", time.Hour)
	if stateOf(t, r, "d") != Claimed || stateOf(t, r, "e") != Done || len(ages) != 1 || ages[0] != 2*time.Minute {
		t.Fatalf("after a new event: d %v, e %v, evicted ages %v; want d evicted at 2m", stateOf(t, r, "d"), stateOf(t, r, "e"), ages)
	}

	// A store holding a key already has room for one more of the snapshot
	// in a bound of 2: the newest.
	held, hclock := newClockedStore(2)
	hclock.Set(clock.Now())
	deliver(t, held, "other", time.Hour)
	if n, err := held.ReadSnapshot(bytes.NewReader(snapshot)); n != 1 || err != nil {
		t.Fatalf("read into a store holding a key: %d, %v; want 1", n, err)
	}
	if stateOf(t, held, "other") != Done || stateOf(t, held, "e") != Done || stateOf(t, held, "d") != Claimed {
		t.Fatalf("other %v, e %v, d %v; want other and e kept", stateOf(t, held, "other"), stateOf(t, held, "e"), stateOf(t, held, "d"))
	}
}
