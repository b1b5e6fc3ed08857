package sender

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// The pacer lets Burst attempts start at once, then Rate per second of
// the clock it is given, and says when the next token comes.
func TestPacer(t *testing.T) {
	var p pacer
	now := time.Unix(1000, 0)
	if n, next := p.allow(now, 7); n != 7 || !next.IsZero() {
		t.Fatalf("no ceiling: %d, %v", n, next)
	}
	p.set(10, 3, now)
	n, next := p.allow(now, 5)
	if n != 3 || !next.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("full bucket: allow %d next %v, want 3 and +100ms", n, next.Sub(now))
	}
	p.take(now, 3)
	if n, next := p.allow(now, 5); n != 0 || !next.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("empty bucket: allow %d next %v", n, next.Sub(now))
	}
	if n, _ := p.allow(now.Add(250*time.Millisecond), 5); n != 2 {
		t.Fatalf("after 250ms: allow %d, want 2", n)
	}
	if n, _ := p.allow(now.Add(time.Hour), 5); n != 3 {
		t.Fatalf("after an hour: allow %d, want the burst 3", n)
	}
	p.set(0, 0, now)
	if n, _ := p.allow(now, 9); n != 9 {
		t.Fatalf("ceiling removed: allow %d", n)
	}
	if b := burstFor(1000); b != 50 {
		t.Fatalf("default burst of 1000/s = %d, want 50", b)
	}
}

// A running sender with a Rate ceiling starts Burst attempts, then no
// more until its clock moves, then Rate per second of it: counted, not
// timed.
func TestSenderRateCeiling(t *testing.T) {
	var got atomic.Int64
	rc := newReceiver(t, func(int, *http.Request, http.ResponseWriter) int {
		got.Add(1)
		return http.StatusNoContent
	})
	clock := newTestClock()
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, _ := runSender(t, ob, Options{Now: clock.Now, Rate: 5, Burst: 5, Workers: 16, PerEndpoint: 16})
	for range 30 {
		d := newTestDelivery(t, rc.URL)
		d.NextAttempt = clock.Now()
		if err := s.Enqueue(d); err != nil {
			t.Fatal(err)
		}
	}
	want := func(n int64) func() error {
		return func() error {
			if g := got.Load(); g != n {
				return fmt.Errorf("%d requests, want %d", g, n)
			}
			return nil
		}
	}
	eventually.Succeeds(t, waitTimeout, want(5))
	eventually.Holds(t, 300*time.Millisecond, 10*time.Millisecond, want(5))
	clock.Advance(time.Second)
	s.Wake()
	eventually.Succeeds(t, waitTimeout, want(10))
	clock.Advance(400 * time.Millisecond)
	s.Wake()
	eventually.Succeeds(t, waitTimeout, want(12))
	eventually.Holds(t, 300*time.Millisecond, 10*time.Millisecond, want(12))
	s.SetRate(0, 0)
	eventually.Succeeds(t, waitTimeout, want(30))
}
