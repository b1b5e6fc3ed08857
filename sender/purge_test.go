package sender

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// Purge deletes final deliveries older than the cutoff, oldest first, at
// most max per call, with every record that refers to them; pending ones
// (not due, or retried by hand) stay.
func TestOutboxPurge(t *testing.T) {
	rc := newReceiver(t, statusByPath)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	var ds []*Delivery
	for _, p := range []string{"/ok", "/ok", "/fail", "/gone", "/fail", "/ok"} {
		d := newTestDelivery(t, rc.URL+p)
		d.MaxAttempts = 2
		ds = append(ds, d)
	}
	done := finishAll(t, ob, ds)
	later := newTestDelivery(t, rc.URL+"/ok")
	later.NextAttempt = time.Now().Add(time.Hour)
	if err := ob.Enqueue(later); err != nil {
		t.Fatal(err)
	}
	// A failed delivery retried by hand is pending again: never purged.
	var retried *Delivery
	for _, d := range done {
		if d.State == StateFailed {
			retried = d
			break
		}
	}
	if _, err := ob.Retry(retried.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	var finals []*Delivery
	for _, d := range done {
		if d != retried {
			finals = append(finals, d)
		}
	}

	far := time.Now().Add(24 * time.Hour)
	tests := []struct {
		name   string
		cutoff time.Time
		max    int
		purged []*Delivery // this call's victims
	}{
		{"zero cutoff", time.Time{}, 0, nil},
		{"cutoff at the oldest", finals[0].UpdatedAt, 0, nil},
		{"just after the oldest", finals[0].UpdatedAt.Add(time.Nanosecond), 0, finals[:1]},
		{"bounded by max", far, 2, finals[1:3]},
		{"the rest", far, 0, finals[3:]},
		{"nothing left", far, 0, nil},
	}
	gone := map[string]bool{}
	for _, tt := range tests {
		n, err := ob.Purge(tt.cutoff, tt.max)
		if err != nil || n != len(tt.purged) {
			t.Fatalf("%s: Purge = %d, %v; want %d", tt.name, n, err, len(tt.purged))
		}
		for _, d := range tt.purged {
			gone[d.ID] = true
		}
		for _, d := range finals {
			_, _, err := ob.Get(d.ID)
			if gone[d.ID] != errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: %s (%s) purged=%v, Get = %v", tt.name, d.ID, d.State, gone[d.ID], err)
			}
			if gone[d.ID] {
				if k := keysFor(t, ob, d.ID); k != 0 {
					t.Fatalf("%s: %d records of purged %s left", tt.name, k, d.ID)
				}
			}
		}
	}
	counts, err := ob.Count()
	if err != nil || counts[StatePending] != 2 || len(counts) != 1 {
		t.Fatalf("Count after purging everything = %v, %v; want 2 pending", counts, err)
	}
	for _, d := range []*Delivery{later, retried} {
		got, _, err := ob.Get(d.ID)
		if err != nil || got.State != StatePending || string(got.Body) != sampleBody {
			t.Fatalf("pending %s after purge: %+v, %v", d.ID, got, err)
		}
	}
}

// The running sender purges by itself, with the clock it is given, in
// batches, and not at all with a negative retention.
func TestSenderPurges(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	ds := make([]*Delivery, 5)
	for i := range ds {
		ds[i] = newTestDelivery(t, rc.URL)
	}
	done := finishAll(t, ob, ds)
	newest := done[len(done)-1]

	// The clock puts the cutoff between the two newest deliveries.
	const retention = 48 * time.Hour
	mid := done[len(done)-2].UpdatedAt.Add(newest.UpdatedAt.Sub(done[len(done)-2].UpdatedAt) / 2)
	clock := newTestClock()
	clock.Set(mid.Add(-retention - time.Hour)) // nothing old enough yet
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Retain: -1, PurgeBatch: 2,
		PurgeInterval: 5 * time.Millisecond, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("Purge with negative retention = %d, %v", n, err)
	}
	s.SetRetain(retention)
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("Purge before the clock moved = %d, %v", n, err)
	}
	startSender(t, s)

	clock.Set(mid.Add(retention))
	eventually.Succeeds(t, waitTimeout, func() error {
		c, err := ob.Count()
		if err != nil || c[StateDelivered] != 1 {
			return fmt.Errorf("the running sender did not purge: %v, %v", c, err)
		}
		return nil
	})
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("a further pass purged %d, %v", n, err)
	}
	if _, _, err := ob.Get(newest.ID); err != nil {
		t.Fatalf("the delivery newer than the cutoff was purged: %v", err)
	}
}
