package sender

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Deliveries stored by one process are resumed by the next, and a lease
// left behind (an attempt in flight at a crash) is recovered when a sender
// starts on the file: logged as interrupted, not counted, due at once by
// the sender's clock.
func TestRestartRecoversLeases(t *testing.T) {
	rc := newReceiver(t, nil)
	path := filepath.Join(t.TempDir(), "o.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for range 5 {
		d := newTestDelivery(t, rc.URL)
		want[d.ID] = true
		mustEnqueue(t, ob, d)
	}
	b, err := ob.lease(time.Now(), 2, func(string) int { return 5 })
	if err != nil || len(b.leased) != 2 {
		t.Fatalf("lease: %d, %v", len(b.leased), err)
	}
	ob.Close()

	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	// A second Open of the same file fails fast instead of hanging.
	if _, err := OpenOutbox(path, OutboxOptions{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("second open = %v, want ErrStoreLocked", err)
	}
	// Open changes nothing: the leases are still there for Run.
	if pending, _ := ob.List(StatePending, 0); len(pending) != 5 {
		t.Fatalf("%d pending after reopening, want 5", len(pending))
	}
	clock := newTestClock()
	clock.Advance(time.Hour)
	recovered := make(chan *Delivery, 2)
	_, final := runSender(t, ob, Options{Now: clock.Now})
	for range 5 {
		d := waitFinal(t, final)
		if d.State != StateDelivered || !want[d.ID] {
			t.Fatalf("unexpected %s %s", d.ID, d.State)
		}
		if d.Attempts != 1 {
			t.Errorf("%s: attempts %d, want 1 (interrupted attempt not counted)", d.ID, d.Attempts)
		}
		if _, log, _ := ob.Get(d.ID); len(log) == 2 {
			if log[0].Outcome != OutcomeInterrupted {
				t.Errorf("%s: first log entry %s, want interrupted", d.ID, log[0].Outcome)
			}
			recovered <- d
		}
		delete(want, d.ID)
	}
	if len(recovered) != 2 {
		t.Errorf("%d deliveries logged an interrupted attempt, want 2", len(recovered))
	}
	if got := rc.distinct(); len(got) != 5 {
		t.Fatalf("endpoint saw %d distinct deliveries", len(got))
	}
}

// RecoverLeases writes nothing when nothing is leased, and makes what was
// leased due at the time it is given.
func TestRecoverLeases(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	if n, err := ob.RecoverLeases(time.Now()); n != 0 || err != nil {
		t.Fatalf("RecoverLeases on an empty outbox = %d, %v", n, err)
	}
	d := newTestDelivery(t, "http://127.0.0.1:9/")
	mustEnqueue(t, ob, d)
	if b, err := ob.lease(time.Now(), 1, func(string) int { return 1 }); err != nil || len(b.leased) != 1 {
		t.Fatalf("lease: %+v, %v", b, err)
	}
	at := time.Now().Add(24 * time.Hour)
	if n, err := ob.RecoverLeases(at); n != 1 || err != nil {
		t.Fatalf("RecoverLeases = %d, %v; want 1", n, err)
	}
	got, log, err := ob.Get(d.ID)
	if err != nil || got.State != StatePending || got.Attempts != 0 || !got.NextAttempt.Equal(at) ||
		len(log) != 1 || log[0].Outcome != OutcomeInterrupted {
		t.Fatalf("recovered: %+v, log %+v, %v", got, log, err)
	}
	if n, err := ob.RecoverLeases(at); n != 0 || err != nil {
		t.Fatalf("a second RecoverLeases = %d, %v; want 0", n, err)
	}
}
