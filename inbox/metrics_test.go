package inbox

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/testclock"
)

// What the metrics read: entries by state and the oldest pending one
// (Stats), attempts by outcome and kind (OnAttempt), and the delivery
// latency from queueing to delivered (OnSettled), on the inbox's clock.
func TestMetricsHooks(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	ds := newDestination(t, func(_ http.ResponseWriter, r *http.Request, _ []byte) int {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Header.Get(HeaderDedupeKey)]++
		if seen[r.Header.Get(HeaderDedupeKey)] == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	clock := testclock.New()
	start := clock.Now()
	outcomes := map[string]int{}
	retried := make(chan *Entry, 4)
	settled := make(chan *Entry, 4)
	var latencies []time.Duration
	in := openInbox(t, Options{Now: clock.Now, Settings: Settings{Destination: ds.URL, Backoff: []time.Duration{10 * time.Second}},
		OnAttempt: func(e *Entry, a Attempt) {
			mu.Lock()
			outcomes[string(a.Outcome)+" "+a.Kind]++
			mu.Unlock()
			if a.Outcome == OutcomeRetry {
				retried <- e
			}
		},
		OnSettled: func(e *Entry, latency time.Duration) {
			mu.Lock()
			latencies = append(latencies, latency)
			mu.Unlock()
			settled <- e
		}})
	for i := range 2 {
		if _, err := in.Enqueue(event(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	st, err := in.Stats()
	if err != nil || st.Entries[StatePending] != 2 || !st.OldestPending.Equal(start) {
		t.Fatalf("Stats before = %+v, %v; want 2 pending since %v", st, err, start)
	}
	run(t, in)
	waitEntry(t, retried)
	waitEntry(t, retried)
	clock.Advance(15 * time.Second) // past the 10s backoff and its jitter
	in.Wake()
	waitEntry(t, settled)
	waitEntry(t, settled)
	st, err = in.Stats()
	if err != nil || st.Entries[StateDelivered] != 2 || st.Entries[StatePending] != 0 || !st.OldestPending.IsZero() {
		t.Fatalf("Stats after = %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes["retry 5xx"] != 2 || outcomes["delivered 2xx"] != 2 || len(outcomes) != 2 {
		t.Errorf("attempts by outcome and kind: %v", outcomes)
	}
	for _, l := range latencies {
		if l != 15*time.Second {
			t.Errorf("delivery latency %v, want 15s of the clock", l)
		}
	}
}
