package sender

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// finishAll runs a sender on ob until every delivery in ds has reached a
// final state, then stops it, and returns the final copies oldest first.
func finishAll(t *testing.T, ob *Outbox, ds []*Delivery) []*Delivery {
	t.Helper()
	final := make(chan *Delivery, len(ds))
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Schedule: fastSchedule,
		OnAttempt: func(d *Delivery, a Attempt) {
			if a.Outcome != OutcomeRetry && a.Outcome != OutcomeInterrupted {
				c := *d
				final <- &c
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	if err := s.Enqueue(ds...); err != nil {
		t.Fatal(err)
	}
	var out []*Delivery
	for range ds {
		out = append(out, waitFinal(t, final))
	}
	cancel()
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.Before(out[j].UpdatedAt) })
	return out
}

// statusByPath answers 204 on /ok, 410 on /gone and 500 elsewhere.
func statusByPath(_ int, r *http.Request, _ http.ResponseWriter) int {
	switch r.URL.Path {
	case "/ok":
		return http.StatusNoContent
	case "/gone":
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// keysFor counts the records of every bucket that mention id.
func keysFor(t *testing.T, ob *Outbox, id string) int {
	t.Helper()
	n := 0
	err := ob.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				if containsID(k, id) {
					n++
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func containsID(k []byte, id string) bool {
	for i := 0; i+len(id) <= len(k); i++ {
		if string(k[i:i+len(id)]) == id {
			return true
		}
	}
	return false
}

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

// A file written before the final index existed gets it when opened.
func TestOutboxPurgeIndexesOldFile(t *testing.T) {
	rc := newReceiver(t, nil)
	path := filepath.Join(t.TempDir(), "o.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := finishAll(t, ob, []*Delivery{newTestDelivery(t, rc.URL), newTestDelivery(t, rc.URL)})
	if err := ob.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bFinal) }); err != nil {
		t.Fatal(err)
	}
	ob.Close()
	if ob, err = OpenOutbox(path, OutboxOptions{}); err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if n, err := ob.Purge(done[1].UpdatedAt, 0); err != nil || n != 1 {
		t.Fatalf("Purge up to the newest = %d, %v; want 1", n, err)
	}
	if _, _, err := ob.Get(done[1].ID); err != nil {
		t.Fatalf("newest purged: %v", err)
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
	var clock atomic.Pointer[time.Time]
	past := mid.Add(-retention - time.Hour) // nothing old enough yet
	clock.Store(&past)
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Retention: -1, PurgeBatch: 2,
		PurgeInterval: 5 * time.Millisecond, Now: func() time.Time { return *clock.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("Purge with negative retention = %d, %v", n, err)
	}
	s.SetRetention(retention)
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("Purge before the clock moved = %d, %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	now := mid.Add(retention)
	clock.Store(&now)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := ob.Count()
		if err != nil {
			t.Fatal(err)
		}
		if c[StateDelivered] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running sender did not purge: %v", c)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, err := s.Purge(context.Background()); n != 0 || err != nil {
		t.Fatalf("a further pass purged %d, %v", n, err)
	}
	if _, _, err := ob.Get(newest.ID); err != nil {
		t.Fatalf("the delivery newer than the cutoff was purged: %v", err)
	}
}
