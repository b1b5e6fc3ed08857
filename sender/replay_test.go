package sender

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Replay queues a delivered delivery again with a fresh budget; with
// KeepNumbering its attempts go on being numbered (header and log) from
// where they were. A pending delivery cannot be replayed.
func TestReplayDeliveredKeepsNumbering(t *testing.T) {
	rc := newReceiver(t, func(n int, _ *http.Request, _ http.ResponseWriter) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, final := runSender(t, ob, Options{Schedule: Schedule{Attempts: 2, Backoff: []time.Duration{0}, NoJitter: true}})
	d := newTestDelivery(t, rc.URL)
	d.KeepNumbering = true
	if err := s.Enqueue(d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replay(d.ID); !errors.Is(err, ErrNotReplayable) {
		t.Errorf("Replay of a pending delivery = %v, want ErrNotReplayable", err)
	}
	if got := waitFinal(t, final); got.State != StateDelivered || got.Attempts != 2 {
		t.Fatalf("first round: %s after %d attempts", got.State, got.Attempts)
	}
	r, err := s.Replay(d.ID)
	if err != nil || r.State != StatePending || r.Attempts != 0 || r.Earlier != 2 {
		t.Fatalf("Replay = %+v, %v", r, err)
	}
	if got := waitFinal(t, final); got.State != StateDelivered || got.Attempts != 1 || got.Number() != 3 {
		t.Fatalf("after replay: %s, attempts %d, number %d; want delivered, 1, 3", got.State, got.Attempts, got.Number())
	}
	reqs := rc.requests()
	var nums []int
	for _, r := range reqs {
		nums = append(nums, r.Attempt)
	}
	if len(nums) != 3 || nums[0] != 1 || nums[1] != 2 || nums[2] != 3 {
		t.Fatalf("attempt headers %v, want 1 2 3", nums)
	}
	_, log, _ := s.Get(d.ID)
	if len(log) != 3 || log[2].N != 3 {
		t.Fatalf("log %+v, want 3 entries, the last numbered 3", log)
	}
}

// ReplayAll takes the deliveries of one state that became final in
// [from, to), by the sender's clock; RetryAll stays failed and gone only.
func TestReplayAllTimeRange(t *testing.T) {
	rc := newReceiver(t, statusByPath)
	clock := newTestClock()
	start := clock.Now()
	ob, _ := openTestOutbox(t, OutboxOptions{})
	s, final := runSender(t, ob, Options{Now: clock.Now, Schedule: Schedule{Attempts: 1, Backoff: []time.Duration{0}, NoJitter: true}})
	var failed []string
	for i := range 3 {
		d := newTestDelivery(t, rc.URL+"/fail")
		d.NextAttempt = clock.Now()
		if err := s.Enqueue(d); err != nil {
			t.Fatal(err)
		}
		if got := waitFinal(t, final); got.State != StateFailed {
			t.Fatalf("delivery %d: %s", i, got.State)
		}
		failed = append(failed, d.ID)
		clock.Advance(time.Hour)
	}
	// Failed at start, start+1h, start+2h: [start+30m, start+2h) holds
	// the second only.
	got, err := s.ReplayAll(StateFailed, start.Add(30*time.Minute), start.Add(2*time.Hour))
	if err != nil || len(got) != 1 || got[0].ID != failed[1] {
		t.Fatalf("ReplayAll = %v, %v; want the second (%s)", ids(got), err, failed[1])
	}
	if d := waitFinal(t, final); d.ID != failed[1] {
		t.Fatalf("attempted %s, want %s", d.ID, failed[1])
	}
	if _, err := s.ReplayAll(StatePending, time.Time{}, time.Time{}); !errors.Is(err, ErrNotReplayable) {
		t.Errorf("ReplayAll(pending) = %v, want ErrNotReplayable", err)
	}
	if _, err := s.RetryAll(StateDelivered, time.Time{}); !errors.Is(err, ErrNotRetryable) {
		t.Errorf("RetryAll(delivered) = %v, want ErrNotRetryable", err)
	}
	// An open range takes the rest, oldest first.
	got, err = s.ReplayAll(StateFailed, time.Time{}, time.Time{})
	if err != nil || len(got) != 3 || got[0].ID != failed[0] || got[2].ID != failed[2] {
		t.Fatalf("open ReplayAll = %v, %v; want all three oldest first", ids(got), err)
	}
	for range 3 {
		waitFinal(t, final)
	}
}
