package sender

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// orderedDelivery returns a pending delivery to url with order key key.
func orderedDelivery(t testing.TB, url, key string) *Delivery {
	t.Helper()
	d := newTestDelivery(t, url)
	d.OrderKey = key
	return d
}

// leaseIDs leases everything due now and returns the ids taken.
func leaseIDs(t *testing.T, ob *Outbox) []*Delivery {
	t.Helper()
	b, err := ob.lease(time.Now().Add(time.Hour), 100, func(string) int { return 100 })
	if err != nil {
		t.Fatal(err)
	}
	return b.leased
}

func ids(ds []*Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// Of the deliveries with one order key only the first not final is ever
// leased, the next once it is final (delivered, failed or gone; a retry
// keeps its place); keys do not wait for each other, nor do deliveries
// without a key. Enqueued in one group commit, a line keeps commit order.
func TestOrderKeyLeasesOneAtATimeInOrder(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	const url = "http://127.0.0.1:9/"
	a1, a2, a3 := orderedDelivery(t, url, "a"), orderedDelivery(t, url, "a"), orderedDelivery(t, url, "a")
	b1, b2 := orderedDelivery(t, url, "b"), orderedDelivery(t, url, "b")
	free := newTestDelivery(t, url)
	mustEnqueue(t, ob, a1, b1, a2, free, b2, a3)

	got := leaseIDs(t, ob)
	if want := []string{a1.ID, b1.ID, free.ID}; !sameSet(ids(got), want) {
		t.Fatalf("first lease %v, want a1 b1 and the unordered one %v", ids(got), want)
	}
	if again := leaseIDs(t, ob); len(again) != 0 {
		t.Fatalf("leased %v while the first of each key is in flight", ids(again))
	}
	byID := map[string]*Delivery{}
	for _, d := range got {
		byID[d.ID] = d
	}
	now := time.Now()
	// a1 is retried: a2 still waits. b1 fails for good: b2 is next.
	if err := ob.complete(byID[a1.ID], Attempt{N: 1, Outcome: OutcomeRetry}, now); err != nil {
		t.Fatal(err)
	}
	if err := ob.complete(byID[b1.ID], Attempt{N: 1, Outcome: OutcomeFailed}, now); err != nil {
		t.Fatal(err)
	}
	got = leaseIDs(t, ob)
	if !sameSet(ids(got), []string{a1.ID, b2.ID}) {
		t.Fatalf("after a retry of a1 and b1 failed: leased %v, want a1 (again) and b2", ids(got))
	}
	for _, d := range got {
		byID[d.ID] = d
	}
	for _, step := range []struct {
		done *Delivery
		out  Outcome
		next []string
	}{{a1, OutcomeGone, []string{a2.ID}}, {b2, OutcomeDelivered, nil}} {
		if err := ob.complete(byID[step.done.ID], Attempt{N: 1, Outcome: step.out}, now); err != nil {
			t.Fatal(err)
		}
		got := leaseIDs(t, ob)
		if !sameSet(ids(got), step.next) {
			t.Fatalf("after %s: leased %v, want %v", step.out, ids(got), step.next)
		}
		for _, d := range got {
			byID[d.ID] = d
		}
	}
	if err := ob.complete(byID[a2.ID], Attempt{N: 1, Outcome: OutcomeDelivered}, now); err != nil {
		t.Fatal(err)
	}
	if got := leaseIDs(t, ob); !sameSet(ids(got), []string{a3.ID}) {
		t.Fatalf("after a2: leased %v, want a3", ids(got))
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A lease in flight at a crash is recovered as the first of its line: the
// next delivery of the key still waits for it.
func TestOrderKeySurvivesRecovery(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	first, second := orderedDelivery(t, "http://127.0.0.1:9/", "k"), orderedDelivery(t, "http://127.0.0.1:9/", "k")
	mustEnqueue(t, ob, first)
	mustEnqueue(t, ob, second)
	if got := leaseIDs(t, ob); !sameSet(ids(got), []string{first.ID}) {
		t.Fatalf("leased %v, want the first", ids(got))
	}
	if n, err := ob.RecoverLeases(time.Now()); err != nil || n != 1 {
		t.Fatalf("RecoverLeases = %d, %v", n, err)
	}
	if got := leaseIDs(t, ob); !sameSet(ids(got), []string{first.ID}) {
		t.Fatalf("after recovery leased %v, want the first again", ids(got))
	}
}

// A retried or replayed delivery joins the end of its key's line; a whole
// batch replayed keeps the order it had.
func TestOrderKeyReplayJoinsTheEnd(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	const url = "http://127.0.0.1:9/"
	ds := []*Delivery{orderedDelivery(t, url, "k"), orderedDelivery(t, url, "k"), orderedDelivery(t, url, "k")}
	for _, d := range ds {
		mustEnqueue(t, ob, d)
	}
	// Deliver all three, in order.
	for i := range ds {
		got := leaseIDs(t, ob)
		if len(got) != 1 || got[0].ID != ds[i].ID {
			t.Fatalf("step %d leased %v, want %s", i, ids(got), ds[i].ID)
		}
		if err := ob.complete(got[0], Attempt{N: 1, Outcome: OutcomeDelivered}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	late := orderedDelivery(t, url, "k")
	mustEnqueue(t, ob, late)
	// Replay all three behind it: late first, then 0, 1, 2.
	replayed, err := ob.ReplayAll(StateDelivered, time.Time{}, time.Time{}, time.Now())
	if err != nil || len(replayed) != 3 {
		t.Fatalf("ReplayAll = %d, %v", len(replayed), err)
	}
	want := append([]string{late.ID}, ids(ds)...)
	for i, id := range want {
		got := leaseIDs(t, ob)
		if len(got) != 1 || got[0].ID != id {
			t.Fatalf("after the replay, step %d leased %v, want %s", i, ids(got), id)
		}
		if err := ob.complete(got[0], Attempt{N: 1, Outcome: OutcomeDelivered}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// A delivery waiting in a line is pending for Backlogs too.
func TestBacklogsCountWaitingInLine(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	for i := range 4 {
		mustEnqueue(t, ob, orderedDelivery(t, "http://127.0.0.1:9/", fmt.Sprint(i%2)))
	}
	leaseIDs(t, ob)
	bls, err := ob.Backlogs()
	if err != nil || bls["http://127.0.0.1:9"].Pending != 4 {
		t.Fatalf("Backlogs = %+v, %v; want 4 pending", bls, err)
	}
}

// An order key that JSON would not keep (not UTF-8) or a long one is
// stored as its hash: its line still works.
func TestOrderKeyStoredAsHash(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	for _, key := range []string{"\xff\xfe", string(make([]byte, 300))} {
		first, second := orderedDelivery(t, "http://127.0.0.1:9/", key), orderedDelivery(t, "http://127.0.0.1:9/", key)
		mustEnqueue(t, ob, first, second)
		got := leaseIDs(t, ob)
		if len(got) != 1 || got[0].ID != first.ID || got[0].OrderKey[:7] != "sha256:" {
			t.Fatalf("leased %v (key %q), want the first under a hashed key", ids(got), got[0].OrderKey)
		}
		if err := ob.complete(got[0], Attempt{N: 1, Outcome: OutcomeDelivered}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := leaseIDs(t, ob); len(got) != 1 || got[0].ID != second.ID {
			t.Fatalf("then leased %v, want the second", ids(got))
		}
	}
}
