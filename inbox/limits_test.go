package inbox

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/testclock"
)

// inFlight counts the requests a destination is answering and the most it
// answered at once.
type inFlight struct {
	now, peak atomic.Int64
}

func (f *inFlight) enter() {
	n := f.now.Add(1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
}

func (f *inFlight) leave() { f.now.Add(-1) }

// concurrency bounds the attempts in flight: with 1 the destination never
// has two requests at once, with 3 never four, however many are queued.
func TestConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var f inFlight
			ds := newDestination(t, func(http.ResponseWriter, *http.Request, []byte) int {
				f.enter()
				defer f.leave()
				time.Sleep(2 * time.Millisecond) // overlap, if anything lets it
				return http.StatusNoContent
			})
			in := openInbox(t, Options{Settings: Settings{Destination: ds.URL, Concurrency: limit}})
			const n = 40
			for i := range n {
				if _, err := in.Enqueue(event(i, "")); err != nil {
					t.Fatal(err)
				}
			}
			run(t, in) // the whole backlog is due at once
			ds.waitDelivered(t, n)
			if p := f.peak.Load(); p > int64(limit) {
				t.Fatalf("%d requests in flight at once, concurrency %d", p, limit)
			}
		})
	}
}

// rate is a ceiling on attempts per second of the inbox's clock: with the
// clock still, Burst go out and no more; each second of it lets Rate more.
func TestRateCeiling(t *testing.T) {
	var got atomic.Int64
	ds := newDestination(t, func(http.ResponseWriter, *http.Request, []byte) int {
		got.Add(1)
		return http.StatusNoContent
	})
	clock := testclock.New()
	in := openInbox(t, Options{Now: clock.Now, Settings: Settings{Destination: ds.URL, Rate: 4, Burst: 2, Concurrency: 16}})
	for i := range 20 {
		if _, err := in.Enqueue(event(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	run(t, in)
	want := func(n int64) func() error {
		return func() error {
			if g := got.Load(); g != n {
				return fmt.Errorf("%d delivered, want %d", g, n)
			}
			return nil
		}
	}
	eventually.Succeeds(t, waitTimeout, want(2))
	eventually.Holds(t, 300*time.Millisecond, 10*time.Millisecond, want(2))
	for _, step := range []struct {
		advance time.Duration
		total   int64
	}{{250 * time.Millisecond, 3}, {500 * time.Millisecond, 5}, {time.Second, 7}} {
		clock.Advance(step.advance)
		in.Wake()
		eventually.Succeeds(t, waitTimeout, want(step.total))
		eventually.Holds(t, 100*time.Millisecond, 10*time.Millisecond, want(step.total))
	}
}

// order_by: the events of one key reach the destination one at a time in
// the order they were queued, keys in parallel; the first event of key
// "a" fails until every other key is through, holding back only its own.
func TestOrderBy(t *testing.T) {
	const keys, perKey = 4, 6
	var mu sync.Mutex
	index := map[string]int{} // dedupe key -> index within its key
	keyOf := map[string]string{}
	busy := map[string]bool{}
	others := 0
	var arrived []string
	var overlap string
	ds := newDestination(t, func(_ http.ResponseWriter, r *http.Request, _ []byte) int {
		dk := r.Header.Get(HeaderDedupeKey)
		mu.Lock()
		k := keyOf[dk]
		if busy[k] {
			overlap = k
		}
		busy[k] = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		busy[k] = false
		if k == "a" && index[dk] == 0 && others < (keys-1)*perKey {
			return http.StatusServiceUnavailable
		}
		if k != "a" {
			others++
		}
		arrived = append(arrived, dk)
		return http.StatusNoContent
	})
	in := openInbox(t, Options{Settings: Settings{Destination: ds.URL, Concurrency: 8, Attempts: fast.Attempts, Backoff: fast.Backoff}})
	run(t, in)
	n := 0
	for i := range perKey {
		for k := range keys {
			key := string(rune('a' + k))
			ev := event(n, key)
			mu.Lock()
			index[ev.DedupeKey], keyOf[ev.DedupeKey] = i, key
			mu.Unlock()
			if _, err := in.Enqueue(ev); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	ds.waitDelivered(t, n)
	mu.Lock()
	defer mu.Unlock()
	if overlap != "" {
		t.Fatalf("two events of key %s in flight at once", overlap)
	}
	next := map[string]int{}
	for _, dk := range arrived {
		k := keyOf[dk]
		if index[dk] != next[k] {
			t.Fatalf("key %s: event %d arrived when %d was next (arrivals %v)", k, index[dk], next[k], arrived)
		}
		next[k]++
	}
	if keyOf[arrived[len(arrived)-perKey]] != "a" {
		t.Fatalf("key a's events were not the last through (arrivals %v)", arrived)
	}
}
