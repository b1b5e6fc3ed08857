package sender

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

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
	s, final := runSender(t, ob, Options{Schedule: Schedule{Attempts: 2, Backoff: []time.Duration{0}}})
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

// Every time the sender keeps is read from Options.Now: when an attempt is
// recorded and its retry scheduled (the backoff counted from the clock),
// when a lease finds it due, when a manual retry makes it due. The test
// moves the clock by an hour instead of waiting.
func TestSenderFollowsTheClock(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request, _ http.ResponseWriter) int {
		if n == 2 {
			return http.StatusNoContent
		}
		return http.StatusInternalServerError
	})
	clock := newTestClock()
	start := clock.Now()
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, final := runSender(t, ob, Options{Now: clock.Now,
		Schedule: Schedule{Attempts: 2, Backoff: []time.Duration{time.Hour}, NoJitter: true}})
	first := newTestDelivery(t, rc.URL)
	first.NextAttempt = start
	mustEnqueue(t, ob, first)
	s.Wake()

	// The 500 is recorded at the clock's time, the retry due an hour on.
	got := waitDelivery(t, ob, first.ID, func(d *Delivery) bool { return d.LastStatus == 500 })
	if got.State != StatePending || !got.UpdatedAt.Equal(start) || !got.NextAttempt.Equal(start.Add(time.Hour)) {
		t.Fatalf("after a 500: %s, updated %v, next %v; want pending, %v, %v", got.State, got.UpdatedAt, got.NextAttempt, start, start.Add(time.Hour))
	}
	// An hour later by the clock, it is attempted again.
	clock.Advance(time.Hour)
	s.Wake()
	if d := waitFinal(t, final); d.ID != first.ID || d.State != StateDelivered || !d.UpdatedAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("after the clock moved: %s %s at %v", d.ID, d.State, d.UpdatedAt)
	}

	// A failed delivery retried by hand is due at the clock's time.
	second := newTestDelivery(t, rc.URL)
	second.MaxAttempts = 1
	second.NextAttempt = clock.Now()
	if err := s.Enqueue(second); err != nil {
		t.Fatal(err)
	}
	if d := waitFinal(t, final); d.State != StateFailed {
		t.Fatalf("one attempt answered 500: %s", d.State)
	}
	clock.Advance(time.Minute)
	retried, err := ob.Retry(second.ID, clock.Now())
	if err != nil || !retried.NextAttempt.Equal(clock.Now()) {
		t.Fatalf("Outbox.Retry: next %v, %v; want %v", retried.NextAttempt, err, clock.Now())
	}
}

// Run with a context already done returns at once: nothing is sent,
// leased, recovered or purged.
func TestRunWithDoneContext(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	d := newTestDelivery(t, rc.URL)
	mustEnqueue(t, ob, d)
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Retain: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	got, log, err := ob.Get(d.ID)
	if err != nil || got.State != StatePending || got.Attempts != 0 || len(log) != 0 {
		t.Fatalf("after Run on a done context: %+v, %d log entries, %v", got, len(log), err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("receiver saw %d requests", n)
	}
}

// Each delivery is attempted with its own network settings, whatever the
// other deliveries of the outbox carry; a delivery without settings (an
// old record) gets the default client: guard on.
func TestPerDeliveryNetOptions(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	cases := []struct {
		name string
		net  NetOptions
		want State
	}{
		{"no settings: default guard", NetOptions{}, StateFailed},
		{"guard, empty allowlist", NetOptions{Timeout: time.Second}, StateFailed},
		{"guard, other prefix", NetOptions{Allow: []string{"10.0.0.0/8"}}, StateFailed},
		{"guard, loopback allowed", NetOptions{Allow: []string{"127.0.0.0/8"}}, StateDelivered},
		{"guard off", NetOptions{AllowPrivate: true}, StateDelivered},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		d := newTestDelivery(t, rc.URL)
		d.Net = c.net
		mustEnqueue(t, ob, d)
		ids[i] = d.ID
	}
	// The sender's default client: guard on.
	s, err := New(ob, Options{Schedule: instantSchedule})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := waitNotPending(t, ob, ids[i])
			if d.State != c.want {
				t.Fatalf("state %s (%s), want %s", d.State, d.LastError, c.want)
			}
			if d.State == StateFailed && !strings.Contains(d.LastError, "not allowed") {
				t.Fatalf("failed with %q, want the SSRF guard's refusal", d.LastError)
			}
		})
	}
	if n := len(rc.distinct()); n != 2 {
		t.Fatalf("receiver saw %d deliveries, want 2", n)
	}
}
