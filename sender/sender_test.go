package sender

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fastSchedule never sleeps for real backoff lengths.
var fastSchedule = Schedule{Delays: []time.Duration{5 * time.Millisecond, 10 * time.Millisecond}, NoJitter: true}

func openTestOutbox(t testing.TB, opts OutboxOptions) (*Outbox, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob, path
}

// runSender runs s until the test ends; final is signalled once per attempt
// that ended a delivery.
func runSender(t testing.TB, ob *Outbox, opts Options) (*Sender, <-chan *Delivery) {
	t.Helper()
	final := make(chan *Delivery, 1024)
	opts.OnAttempt = func(d *Delivery, a Attempt) {
		if a.Outcome != OutcomeRetry && a.Outcome != OutcomeInterrupted {
			c := *d
			final <- &c
		}
	}
	if opts.Client == nil {
		opts.Client = testClient(t, ClientOptions{})
	}
	if opts.Schedule.Delays == nil {
		opts.Schedule = fastSchedule
	}
	s, err := New(ob, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s, final
}

func waitFinal(t *testing.T, final <-chan *Delivery) *Delivery {
	t.Helper()
	select {
	case d := <-final:
		return d
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery finished within 30s")
		return nil
	}
}

func TestSenderOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		want     State
		wantReqs int
	}{
		{"success", func(int) int { return 200 }, StateDelivered, 1},
		{"failure then success", func(n int) int {
			if n < 3 {
				return 503
			}
			return 200
		}, StateDelivered, 3},
		{"always failing", func(int) int { return 500 }, StateFailed, 5},
		{"gone", func(int) int { return 410 }, StateGone, 1},
		{"redirect", func(int) int { return 308 }, StateFailed, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, _ *http.Request, _ http.ResponseWriter) int { return tt.status(n) })
			ob, _ := openTestOutbox(t, OutboxOptions{})
			s, final := runSender(t, ob, Options{})
			d := newTestDelivery(t, rc.URL+"/hook")
			if err := s.Enqueue(d); err != nil {
				t.Fatal(err)
			}
			got := waitFinal(t, final)
			if got.State != tt.want || got.ID != d.ID {
				t.Fatalf("final %s %s, want %s %s", got.ID, got.State, d.ID, tt.want)
			}
			reqs := rc.requests()
			if len(reqs) != tt.wantReqs {
				t.Fatalf("endpoint saw %d requests, want %d", len(reqs), tt.wantReqs)
			}
			for i, r := range reqs {
				checkSigned(t, r, []byte(sampleBody), d.ID)
				if r.Attempt != i+1 {
					t.Errorf("request %d has attempt header %d", i, r.Attempt)
				}
			}
			stored, log, err := s.Get(d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.State != tt.want || stored.Attempts != tt.wantReqs || len(log) != tt.wantReqs {
				t.Fatalf("stored: state %s attempts %d log %d", stored.State, stored.Attempts, len(log))
			}
			if string(stored.Body) != sampleBody {
				t.Errorf("stored body changed: %q", stored.Body)
			}
			list, _ := s.List(tt.want, 0)
			if len(list) != 1 || list[0].ID != d.ID {
				t.Errorf("List(%s) = %d entries", tt.want, len(list))
			}
			if p, _ := s.List(StatePending, 0); len(p) != 0 {
				t.Errorf("%d still pending", len(p))
			}
		})
	}
}

func TestManualRetry(t *testing.T) {
	var mu sync.Mutex
	healthy := false
	rc := newReceiver(t, func(int, *http.Request, http.ResponseWriter) int {
		mu.Lock()
		defer mu.Unlock()
		if healthy {
			return 200
		}
		return 500
	})
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, final := runSender(t, ob, Options{Schedule: Schedule{MaxAttempts: 2, Delays: []time.Duration{time.Millisecond}}})
	d := newTestDelivery(t, rc.URL)
	if _, err := s.Retry(d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry unknown = %v", err)
	}
	if err := s.Enqueue(d); err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, final); got.State != StateFailed || got.Attempts != 2 {
		t.Fatalf("got %s after %d attempts, want failed after 2", got.State, got.Attempts)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	if _, err := s.Retry(d.ID); err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, final); got.State != StateDelivered {
		t.Fatalf("after retry: %s", got.State)
	}
	if _, err := s.Retry(d.ID); !errors.Is(err, ErrNotRetryable) {
		t.Fatalf("Retry delivered = %v, want ErrNotRetryable", err)
	}
	_, log, _ := s.Get(d.ID)
	if len(log) != 3 || log[2].Outcome != OutcomeDelivered || log[2].N != 1 {
		t.Fatalf("log after retry: %+v", log)
	}
	if n := len(rc.requests()); n != 3 {
		t.Fatalf("endpoint saw %d requests, want 3", n)
	}
}

// Deliveries stored by one process are resumed by the next, and a lease
// left behind (an attempt in flight at a crash) is recovered, not counted.
func TestRestartRecoversLeases(t *testing.T) {
	rc := newReceiver(t, nil)
	path := filepath.Join(t.TempDir(), "o.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		d := newTestDelivery(t, rc.URL)
		want[d.ID] = true
		mustEnqueue(t, ob, d)
	}
	if leased, _, _, _, err := ob.lease(time.Now(), 2, func(string) int { return 5 }); err != nil || len(leased) != 2 {
		t.Fatalf("lease: %d, %v", len(leased), err)
	}
	ob.Close()

	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.Recovered != 2 {
		t.Fatalf("Recovered = %d, want 2", ob.Recovered)
	}
	// A second Open of the same file fails fast instead of hanging.
	if _, err := OpenOutbox(path, OutboxOptions{LockTimeout: 50 * time.Millisecond}); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("second open = %v, want ErrStoreLocked", err)
	}
	_, final := runSender(t, ob, Options{})
	for range 5 {
		d := waitFinal(t, final)
		if d.State != StateDelivered || !want[d.ID] {
			t.Fatalf("unexpected %s %s", d.ID, d.State)
		}
		if d.Attempts != 1 {
			t.Errorf("%s: attempts %d, want 1 (interrupted attempt not counted)", d.ID, d.Attempts)
		}
		delete(want, d.ID)
	}
	if got := rc.distinct(); len(got) != 5 {
		t.Fatalf("endpoint saw %d distinct deliveries", len(got))
	}
}

// The per-endpoint limit holds while other endpoints proceed.
func TestPerEndpointLimit(t *testing.T) {
	var mu sync.Mutex
	cur, peak := 0, 0
	gate := make(chan struct{})
	slow := newReceiver(t, func(int, *http.Request, http.ResponseWriter) int {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		<-gate
		mu.Lock()
		cur--
		mu.Unlock()
		return 200
	})
	fast := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, final := runSender(t, ob, Options{Workers: 6, PerEndpoint: 2})
	for i := 0; i < 6; i++ {
		if err := s.Enqueue(newTestDelivery(t, slow.URL)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		if err := s.Enqueue(newTestDelivery(t, fast.URL)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 { // the fast endpoint finishes while the slow one is stuck
		if d := waitFinal(t, final); d.URL != fast.URL {
			t.Fatalf("slow delivery finished while gated")
		}
	}
	close(gate)
	for range 6 {
		waitFinal(t, final)
	}
	if peak > 2 {
		t.Fatalf("slow endpoint saw %d concurrent attempts, limit 2", peak)
	}
}
