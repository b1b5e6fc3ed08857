package inbox

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/testclock"
)

// A delivered entry replayed is delivered again: same id and bytes, a new
// attempt number. A pending one cannot be replayed.
func TestReplayDelivered(t *testing.T) {
	ds := newDestination(t, nil)
	in := openInbox(t, Options{Settings: Settings{Destination: ds.URL}})
	run(t, in)
	ev := event(7, "")
	id, err := in.Enqueue(ev)
	if err != nil {
		t.Fatal(err)
	}
	ds.waitDelivered(t, 1)
	// The destination has the request before the inbox records its
	// answer: wait for the record, until then the entry is pending.
	eventually.Succeeds(t, waitTimeout, func() error {
		if e, _, err := in.Get(id); err != nil || e.State != StateDelivered {
			return fmt.Errorf("entry %+v, %v; want delivered", e, err)
		}
		return nil
	})
	e, err := in.Replay(id)
	if err != nil || e.State != StatePending {
		t.Fatalf("Replay = %+v, %v", e, err)
	}
	got := ds.waitDelivered(t, 2)
	for i, r := range got {
		if err := checkForwarded(r, ev, id); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if a, b := got[0].Header.Get(HeaderDeliveryAttempt), got[1].Header.Get(HeaderDeliveryAttempt); a != "1" || b != "2" {
		t.Fatalf("attempt numbers %s then %s, want 1 then 2", a, b)
	}
	if _, err := in.Replay("no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replay of an unknown id = %v", err)
	}
}

// Dead letters of a time range are replayed together, by when they
// failed on the inbox's clock; after a reload points the inbox to a
// destination that works, they are delivered with their next number. A
// pending entry cannot be replayed.
func TestReplayFailedInRange(t *testing.T) {
	down := newDestination(t, func(http.ResponseWriter, *http.Request, []byte) int { return http.StatusServiceUnavailable })
	up := newDestination(t, nil)
	clock := testclock.New()
	start := clock.Now()
	settled, retried := make(chan *Entry, 10), make(chan *Entry, 10)
	settings := Settings{Destination: down.URL, Attempts: 2, Backoff: []time.Duration{time.Minute}}
	in := openInbox(t, Options{Now: clock.Now, Settings: settings,
		OnSettled: func(e *Entry, _ time.Duration) { settled <- e },
		OnAttempt: func(e *Entry, a Attempt) {
			if a.Outcome == OutcomeRetry {
				retried <- e
			}
		}})
	run(t, in)
	var ids []string
	for i := range 3 {
		id, err := in.Enqueue(event(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		waitEntry(t, retried)
		// The retry is due a minute of the clock later (±20%).
		clock.Advance(2 * time.Minute)
		in.Wake()
		if e := waitEntry(t, settled); e.ID != id || e.State != StateFailed || e.Attempts != 2 {
			t.Fatalf("event %d: %s after %d attempts", i, e.State, e.Attempts)
		}
		ids = append(ids, id)
		clock.Advance(time.Hour)
	}
	if _, err := in.ReplayAll(StatePending, time.Time{}, time.Time{}); !errors.Is(err, ErrNotReplayable) {
		t.Errorf("ReplayAll(pending) = %v", err)
	}
	settings.Destination = up.URL
	if err := in.Reconfigure(settings); err != nil {
		t.Fatal(err)
	}
	got, err := in.ReplayAll(StateFailed, start.Add(30*time.Minute), start.Add(90*time.Minute))
	if err != nil || len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("ReplayAll = %d entries, %v; want the second", len(got), err)
	}
	if e := waitEntry(t, settled); e.ID != ids[1] || e.State != StateDelivered || e.Number() != 3 {
		t.Fatalf("replayed: %s %s attempt %d, want %s delivered at attempt 3", e.ID, e.State, e.Number(), ids[1])
	}
	if r := up.delivered(); len(r) != 1 || r[0].Header.Get(HeaderDeliveryAttempt) != "3" || r[0].Header.Get(HeaderDeliveryID) != ids[1] {
		t.Fatalf("destination got %d requests: %v", len(r), r)
	}
	if failed, _ := in.List(StateFailed, 0); len(failed) != 2 {
		t.Fatalf("%d dead letters left, want 2", len(failed))
	}
}
