package sender

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// A lease takes due deliveries oldest first, within the room it is given
// in all and per endpoint, and reports the earliest due time it did not
// reach.
func TestLease(t *testing.T) {
	base := time.Now().Truncate(time.Second)
	type entry struct {
		endpoint string
		due      time.Duration // after base
	}
	entries := []entry{
		{"http://a.example/", 0}, {"http://a.example/x", time.Second}, {"http://a.example/", 2 * time.Second},
		{"http://b.example/", 500 * time.Millisecond}, {"http://b.example/", time.Hour},
		{"http://c.example/", time.Minute},
	}
	tests := []struct {
		name    string
		now     time.Duration
		max     int
		perEP   int
		want    []int // indexes into entries, in lease order
		next    time.Duration
		hasNext bool
	}{
		{"all due, room for all", 3 * time.Second, 10, 10, []int{0, 3, 1, 2}, time.Minute, true},
		{"bounded by max: oldest first", 3 * time.Second, 2, 10, []int{0, 3}, time.Second, true},
		{"one per endpoint", 3 * time.Second, 10, 1, []int{0, 3}, time.Minute, true},
		{"nothing due yet", -time.Second, 10, 10, nil, 0, true},
		{"no room", 3 * time.Second, 10, 0, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ob, _ := openTestOutbox(t, OutboxOptions{})
			ids := make([]string, len(entries))
			for i, e := range entries {
				d, err := NewDelivery(e.endpoint, "screenshot.finished", []byte(sampleBody), testSecret, base.Add(e.due))
				if err != nil {
					t.Fatal(err)
				}
				mustEnqueue(t, ob, d)
				ids[i] = d.ID
			}
			b, err := ob.lease(base.Add(tt.now), tt.max, func(string) int { return tt.perEP })
			if err != nil {
				t.Fatal(err)
			}
			if len(b.leased) != len(tt.want) {
				t.Fatalf("leased %d, want %d", len(b.leased), len(tt.want))
			}
			for i, w := range tt.want {
				if d := b.leased[i]; d.ID != ids[w] || d.Attempts != 1 || string(d.Body) != sampleBody || string(d.Secret) != string(testSecret) {
					t.Errorf("lease %d: %s (%d attempts), want entry %d", i, d.ID, d.Attempts, w)
				}
			}
			if b.next.IsZero() == tt.hasNext || (tt.hasNext && !b.next.Equal(base.Add(tt.next))) {
				t.Errorf("next = %v, want %v (any: %v)", b.next, base.Add(tt.next), tt.hasNext)
			}
			if len(b.broken) != 0 || b.more {
				t.Errorf("broken %d, more %v", len(b.broken), b.more)
			}
		})
	}
}

// One endpoint's backlog, longer than a lease pass's scan limit and held
// back by the per-endpoint limit (its one attempt in flight never ends
// during the test), does not delay another endpoint's delivery.
func TestSaturatedEndpointDoesNotStarveOthers(t *testing.T) {
	release := make(chan struct{})
	slow := newReceiver(t, func(int, *http.Request, http.ResponseWriter) int {
		<-release
		return http.StatusNoContent
	})
	defer close(release) // before slow.Close, which waits for handlers
	fast := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	now := time.Now()
	backlog := make([]*Delivery, leaseScanLimit+104)
	for i := range backlog {
		d, err := NewDelivery(slow.URL, "screenshot.finished", []byte(sampleBody), testSecret, now)
		if err != nil {
			t.Fatal(err)
		}
		backlog[i] = d
	}
	if err := ob.Enqueue(backlog...); err != nil {
		t.Fatal(err)
	}
	d, err := NewDelivery(fast.URL, "screenshot.finished", []byte(sampleBody), testSecret, now.Add(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ob, d)
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Workers: 8, PerEndpoint: 1})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)

	if got := waitNotPending(t, ob, d.ID); got.State != StateDelivered {
		t.Fatalf("the other endpoint's delivery: %s %q", got.State, got.LastError)
	}
	if n := len(slow.requests()); n > 1 {
		t.Errorf("the slow endpoint got %d requests at once, want at most 1 (per_endpoint 1)", n)
	}
	c, err := ob.Count()
	if err != nil || c[StatePending] != len(backlog) {
		t.Errorf("pending %d (%v), want the whole backlog %d", c[StatePending], err, len(backlog))
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
	for range 6 {
		if err := s.Enqueue(newTestDelivery(t, slow.URL)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
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

// A due delivery whose payload cannot be read is failed with a clear
// error in the lease that finds it (not left pending forever), its
// endpoint slot is given back, and the next delivery goes out.
func TestUnreadablePayloadFails(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, path := openTestOutbox(t, OutboxOptions{})
	var ids []string
	for range 2 {
		d := newTestDelivery(t, rc.URL)
		mustEnqueue(t, ob, d)
		ids = append(ids, d.ID)
	}
	ob = rewriteRecord(t, ob, path, bPayloads, ids[0], []byte{0xff})

	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Workers: 1, PerEndpoint: 1})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	if good := waitNotPending(t, ob, ids[1]); good.State != StateDelivered {
		t.Errorf("the next delivery: %s %q", good.State, good.LastError)
	}
	// Get refuses the corrupt record; List shows its metadata.
	failed, err := ob.List(StateFailed, 0)
	if err != nil || len(failed) != 1 || failed[0].ID != ids[0] {
		t.Fatalf("failed deliveries: %v, %v", failed, err)
	}
	if bad := failed[0]; bad.LastError != errPayload || bad.Attempts != 0 || bad.LogCount != 1 {
		t.Errorf("unreadable delivery: %d attempts, %d log entries, %q", bad.Attempts, bad.LogCount, bad.LastError)
	}
	if n, _ := ob.Count(); n[StatePending] != 0 {
		t.Errorf("%d deliveries still pending", n[StatePending])
	}
}
