package sender

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// RetryAll re-queues the deliveries of one final state that became final
// since a time, all at once, with a fresh budget; others stay as they are.
func TestRetryAll(t *testing.T) {
	rc := newReceiver(t, statusByPath)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	var ds []*Delivery
	for _, p := range []string{"/fail", "/gone", "/fail", "/ok", "/fail"} {
		d := newTestDelivery(t, rc.URL+p)
		d.MaxAttempts = 1
		ds = append(ds, d)
	}
	done := finishAll(t, ob, ds) // oldest first
	var failed []*Delivery
	for _, d := range done {
		if d.State == StateFailed {
			failed = append(failed, d)
		}
	}
	if len(failed) != 3 {
		t.Fatalf("%d failed, want 3", len(failed))
	}
	now := time.Now().Add(time.Hour)
	if _, err := ob.RetryAll(StateDelivered, time.Time{}, now); !errors.Is(err, ErrNotRetryable) {
		t.Fatalf("RetryAll(delivered) = %v, want ErrNotRetryable", err)
	}
	// Since the second failure: the two newest.
	got, err := ob.RetryAll(StateFailed, failed[1].UpdatedAt, now)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ds []*Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		slices.Sort(out)
		return out
	}
	if want := ids(failed[1:]); !slices.Equal(ids(got), want) {
		t.Fatalf("retried %v, want %v", ids(got), want)
	}
	for _, d := range got {
		stored, _, err := ob.Get(d.ID)
		if err != nil || stored.State != StatePending || stored.Attempts != 0 || !stored.NextAttempt.Equal(now) {
			t.Errorf("retried %s: %+v, %v", d.ID, stored, err)
		}
	}
	if c, _ := ob.Count(); c[StateFailed] != 1 || c[StateGone] != 1 || c[StateDelivered] != 1 || c[StatePending] != 2 {
		t.Fatalf("counts %v", c)
	}
	// All gone ones (a zero since), then nothing left to retry.
	if got, err := ob.RetryAll(StateGone, time.Time{}, now); err != nil || len(got) != 1 {
		t.Fatalf("RetryAll(gone) = %d, %v", len(got), err)
	}
	if got, err := ob.RetryAll(StateGone, time.Time{}, now); err != nil || len(got) != 0 {
		t.Fatalf("RetryAll(gone) again = %d, %v", len(got), err)
	}
}

// Backlogs counts the pending deliveries of each endpoint, leased or not,
// and finds the oldest.
func TestBacklogs(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	if b, err := ob.Backlogs(); err != nil || len(b) != 0 {
		t.Fatalf("empty outbox: %v, %v", b, err)
	}
	var first *Delivery
	for i, u := range []string{"http://a.example/x", "http://A.example/y", "https://a.example/", "http://b.example:8080/"} {
		d := newTestDelivery(t, u)
		if i == 0 {
			first = d
		}
		mustEnqueue(t, ob, d)
	}
	// A custom id (not a UUIDv7): its record gives its creation time.
	custom := newTestDelivery(t, "http://b.example:8080/")
	custom.ID, custom.CreatedAt = "custom-id", time.Now().Add(-time.Hour)
	mustEnqueue(t, ob, custom)
	// One delivery of a.example leased: still pending.
	if b, err := ob.lease(time.Now(), 1, func(string) int { return 1 }); err != nil || len(b.leased) != 1 {
		t.Fatalf("lease: %+v, %v", b, err)
	}
	got, err := ob.Backlogs()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"http://a.example": 2, "https://a.example": 1, "http://b.example:8080": 2}
	if len(got) != len(want) {
		t.Fatalf("backlogs %v, want %v", got, want)
	}
	for ep, n := range want {
		if got[ep].Pending != n {
			t.Errorf("%s: %d pending, want %d", ep, got[ep].Pending, n)
		}
	}
	if o := got["http://a.example"].Oldest; o.Sub(first.CreatedAt).Abs() > time.Millisecond {
		t.Errorf("oldest of a.example %v, want about %v (the first delivery)", o, first.CreatedAt)
	}
	if o := got["http://b.example:8080"].Oldest; !o.Equal(custom.CreatedAt) {
		t.Errorf("oldest of b.example %v, want %v (the custom id's record)", o, custom.CreatedAt)
	}
}
