package inbox

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/testclock"
)

// switchable answers 503 until up is set, then 204.
func switchable(t *testing.T, f *inFlight) (*destination, *atomic.Bool) {
	var up atomic.Bool
	ds := newDestination(t, func(http.ResponseWriter, *http.Request, []byte) int {
		f.enter()
		defer f.leave()
		if !up.Load() {
			return http.StatusServiceUnavailable
		}
		time.Sleep(2 * time.Millisecond) // overlap, if anything lets it
		return http.StatusNoContent
	})
	return ds, &up
}

// After an outage, a pending entry waiting 6 hours for its retry is
// delivered at once by DeliverNow, on a clock that does not move: the
// same entry (no copy), its next attempt number. A delivered entry is not
// pending; an unknown id is not found.
func TestDeliverNowAfterOutage(t *testing.T) {
	var f inFlight
	ds, up := switchable(t, &f)
	clock := testclock.New()
	retried, settled := make(chan *Entry, 10), make(chan *Entry, 10)
	in := openInbox(t, Options{Now: clock.Now, Settings: Settings{Destination: ds.URL, Attempts: 5, Backoff: []time.Duration{6 * time.Hour}},
		OnSettled: func(e *Entry, _ time.Duration) { settled <- e },
		OnAttempt: func(e *Entry, a Attempt) {
			if a.Outcome == OutcomeRetry {
				retried <- e
			}
		}})
	run(t, in)
	ev := event(1, "")
	id, err := in.Enqueue(ev)
	if err != nil {
		t.Fatal(err)
	}
	waitEntry(t, retried)
	up.Store(true)
	e, err := in.DeliverNow(id)
	if err != nil || e.ID != id || e.State != StatePending || !e.NextAttempt.Equal(clock.Now()) {
		t.Fatalf("DeliverNow = %+v, %v; want the pending entry due now", e, err)
	}
	if e := waitEntry(t, settled); e.ID != id || e.State != StateDelivered || e.Number() != 2 {
		t.Fatalf("settled %s %s at attempt %d, want %s delivered at attempt 2", e.ID, e.State, e.Number(), id)
	}
	got := ds.delivered()
	if len(got) != 1 || got[0].Header.Get(HeaderDeliveryAttempt) != "2" {
		t.Fatalf("destination got %d requests, want one, attempt 2", len(got))
	}
	if err := checkForwarded(got[0], ev, id); err != nil {
		t.Fatal(err)
	}
	if _, err := in.DeliverNow(id); !errors.Is(err, ErrNotPending) {
		t.Errorf("DeliverNow of a delivered entry = %v, want ErrNotPending", err)
	}
	if _, err := in.DeliverNow("no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeliverNow of an unknown id = %v", err)
	}
}

// Replaying a pending entry is refused with words about entries, pointing
// to retry.
func TestReplayPendingSaysEntry(t *testing.T) {
	ds := newDestination(t, func(http.ResponseWriter, *http.Request, []byte) int { return http.StatusServiceUnavailable })
	clock := testclock.New()
	in := openInbox(t, Options{Now: clock.Now, Settings: Settings{Destination: ds.URL, Backoff: []time.Duration{time.Hour}}})
	id, err := in.Enqueue(event(1, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Replay(id)
	want := "only delivered, failed or gone entries can be replayed (entry " + id + " is pending: retry it to deliver it now)"
	if !errors.Is(err, ErrNotReplayable) || err.Error() != want {
		t.Fatalf("Replay of a pending entry = %v, want %q", err, want)
	}
}

// DeliverAllNow hurries every entry waiting for a retry, and only those:
// an entry behind an earlier one of its order key stays behind it (and
// DeliverNow of it is refused), and concurrency 1 still never has two
// attempts in flight.
func TestDeliverAllNowKeepsOrderAndBounds(t *testing.T) {
	var f inFlight
	ds, up := switchable(t, &f)
	clock := testclock.New()
	var mu sync.Mutex
	retried := map[string]bool{}
	in := openInbox(t, Options{Now: clock.Now, Settings: Settings{Destination: ds.URL, Concurrency: 1, Attempts: 5, Backoff: []time.Duration{6 * time.Hour}},
		OnAttempt: func(e *Entry, a Attempt) {
			mu.Lock()
			defer mu.Unlock()
			retried[e.ID] = true
		}})
	var first, behind string
	for i := range 6 {
		key := ""
		if i < 2 {
			key = "k"
		}
		id, err := in.Enqueue(event(i, key))
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			first = id
		case 1:
			behind = id
		}
	}
	run(t, in)
	eventually.Succeeds(t, waitTimeout, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(retried) != 5 { // all but the one behind its key
			return fmt.Errorf("%d entries attempted, want 5", len(retried))
		}
		return nil
	})
	up.Store(true)
	if _, err := in.DeliverNow(behind); !errors.Is(err, ErrHeldBack) {
		t.Fatalf("DeliverNow of the entry behind its key = %v, want ErrHeldBack", err)
	}
	got, err := in.DeliverAllNow()
	if err != nil || len(got) != 5 {
		t.Fatalf("DeliverAllNow = %d entries, %v; want the 5 waiting for a retry", len(got), err)
	}
	for _, e := range got {
		if e.ID == behind {
			t.Fatalf("DeliverAllNow moved %s, held back by its key", behind)
		}
	}
	reqs := ds.waitDelivered(t, 6)
	pos := map[string]int{}
	for i, r := range reqs {
		pos[r.Header.Get(HeaderDeliveryID)] = i
	}
	if pos[first] > pos[behind] {
		t.Errorf("the key's second entry was delivered before its first: %v", pos)
	}
	if n := reqs[pos[behind]].Header.Get(HeaderDeliveryAttempt); n != "1" {
		t.Errorf("the held-back entry arrived at attempt %s, want 1", n)
	}
	if p := f.peak.Load(); p > 1 {
		t.Fatalf("%d requests in flight at once, concurrency 1", p)
	}
	if len(ds.delivered()) != 6 {
		t.Fatalf("%d requests delivered, want 6 (no copies)", len(ds.delivered()))
	}
}
