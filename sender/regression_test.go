package sender

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Run with a context already done returns at once: nothing is sent,
// leased, recovered or purged.
func TestRunWithDoneContext(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	d := newTestDelivery(t, rc.URL)
	mustEnqueue(t, ob, d)
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Retention: time.Nanosecond})
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
		{"guard off", NetOptions{AllowAll: true}, StateDelivered},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		d := newTestDelivery(t, rc.URL)
		d.Net = c.net
		mustEnqueue(t, ob, d)
		ids[i] = d.ID
	}
	// The sender's default client: guard on.
	s, err := New(ob, Options{Schedule: fastSchedule})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
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

// An invalid allowlist is refused at enqueue.
func TestEnqueueRejectsInvalidNetOptions(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	for _, n := range []NetOptions{{Allow: []string{"not a prefix"}}, {Timeout: -time.Second}} {
		d, _ := NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(sampleBody), testSecret, time.Now())
		d.Net = n
		if err := ob.Enqueue(d); err == nil {
			t.Errorf("Enqueue with %+v succeeded", n)
		}
	}
}

// waitNotPending polls the outbox until delivery id is no longer pending.
func waitNotPending(t *testing.T, ob *Outbox, id string) *Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, _, err := ob.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != StatePending {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s still pending", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The client cache shares a client between equal settings (allowlist
// order, duplicates and IPv4-mapped forms aside) and drops unused ones.
func TestClientCache(t *testing.T) {
	var cc clientCache
	now := time.Now()
	a, relA, err := cc.get(NetOptions{Allow: []string{"10.0.0.0/8", "127.0.0.0/8"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, relB, err := cc.get(NetOptions{Allow: []string{"127.0.0.1/8", "::ffff:10.0.0.0/104", "10.0.0.0/8"}, Timeout: DefaultTimeout}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("equal settings got different clients")
	}
	c, relC, err := cc.get(NetOptions{AllowAll: true}, now)
	if err != nil || c == a {
		t.Fatalf("guard off got %v, %v", c == a, err)
	}
	if _, _, err := cc.get(NetOptions{Allow: []string{"nope"}}, now); err == nil {
		t.Error("an invalid allowlist made a client")
	}
	relA()
	relC()
	if n := cc.sweep(time.Now().Add(time.Hour)); n != 1 {
		t.Errorf("%d clients left with one in use, want 1", n)
	}
	relB()
	if n := cc.sweep(time.Time{}); n != 0 {
		t.Errorf("%d clients left, want 0", n)
	}
}

// A 2xx whose body is cut short by the sender stopping is delivered, not
// interrupted (and sent again), in the background and in the foreground;
// an attempt stopped before any answer is interrupted. The stop is made at
// a precise point by a wrapper around the client's real transport: right
// after the answer's header arrived (the body still being sent), or just
// before the request is sent.
func TestAnswerDecidesOnShutdown(t *testing.T) {
	for _, tc := range []struct {
		name        string
		afterHeader bool // stop after the answer's header, else before the request
		run         func(ctx context.Context, c *Client, ob *Outbox, d *Delivery) State
		want        State
	}{
		{"Run, stopped while reading a 200", true, runUntilStopped, StateDelivered},
		{"Deliver, stopped while reading a 200", true, deliverUntilStopped, StateDelivered},
		{"Run, stopped before the request", false, runUntilStopped, StatePending},
		{"Deliver, stopped before the request", false, deliverUntilStopped, StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("o"))
				w.(http.Flusher).Flush()
				select { // the rest of the body never comes in time
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			defer close(release)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := testClient(t, ClientOptions{})
			real := c.hc.Transport
			c.hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if !tc.afterHeader {
					cancel()
					return real.RoundTrip(r)
				}
				resp, err := real.RoundTrip(r)
				cancel()
				return resp, err
			})
			ob, _ := openTestOutbox(t, OutboxOptions{})
			d := newTestDelivery(t, srv.URL)
			if got := tc.run(ctx, c, ob, d); got != tc.want {
				t.Fatalf("state %s, want %s", got, tc.want)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func runUntilStopped(ctx context.Context, c *Client, ob *Outbox, d *Delivery) State {
	if err := ob.Enqueue(d); err != nil {
		return State("enqueue: " + err.Error())
	}
	s, err := New(ob, Options{Client: c})
	if err != nil {
		return State(err.Error())
	}
	s.Run(ctx)
	got, log, err := ob.Get(d.ID)
	if err != nil {
		return State(err.Error())
	}
	if got.State == StatePending && (len(log) != 1 || log[0].Outcome != OutcomeInterrupted || got.Attempts != 0) {
		return "pending but not interrupted"
	}
	return got.State
}

func deliverUntilStopped(ctx context.Context, c *Client, _ *Outbox, d *Delivery) State {
	st, _ := Deliver(ctx, c, Schedule{}, d, nil)
	return st
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
	ob.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bPayloads).Put([]byte(ids[0]), []byte{0xff}) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()

	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Workers: 1, PerEndpoint: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
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

// Schedule.MaxRetryAfter bounds the wait a Retry-After imposes; the
// backoff delay still applies when it is longer.
func TestMaxRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3000")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := testClient(t, ClientOptions{})
	for _, tc := range []struct {
		name  string
		sched Schedule
		want  time.Duration
	}{
		{"default bound: the endpoint's 3000s", Schedule{NoJitter: true, Delays: []time.Duration{time.Second}}, 3000 * time.Second},
		{"bounded to 1m", Schedule{NoJitter: true, Delays: []time.Duration{time.Second}, MaxRetryAfter: time.Minute}, time.Minute},
		{"backoff longer than the bound", Schedule{NoJitter: true, Delays: []time.Duration{2 * time.Minute}, MaxRetryAfter: time.Minute}, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDelivery(t, srv.URL)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got time.Duration
			Deliver(ctx, c, tc.sched, d, func(_ *Delivery, a Attempt) { got = a.NextWait; cancel() })
			if got != tc.want {
				t.Fatalf("next wait %v, want %v", got, tc.want)
			}
		})
	}
}

// Allowlist prefixes in IPv4-mapped form match like their IPv4 form, for
// IPv4 and IPv4-mapped addresses alike.
func TestGuardMappedAllowlist(t *testing.T) {
	for _, tc := range []struct {
		allow, ip string
		ok        bool
	}{
		{"::ffff:10.0.0.0/104", "10.1.1.1", true},
		{"::ffff:10.0.0.0/104", "::ffff:10.1.1.1", true},
		{"::ffff:10.0.0.0/104", "11.1.1.1", true}, // public anyway
		{"::ffff:10.0.0.0/104", "192.168.1.1", false},
		{"::ffff:127.0.0.1/128", "127.0.0.1", true},
		{"::ffff:127.0.0.1/128", "127.0.0.2", false},
		{"10.0.0.0/8", "::ffff:10.1.1.1", true},
		{"::ffff:0:0/96", "10.1.1.1", true}, // every IPv4 address
	} {
		g, err := NewGuard(tc.allow)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Check(netip.MustParseAddr(tc.ip)); (err == nil) != tc.ok {
			t.Errorf("allow %s, %s: %v, want allowed %v", tc.allow, tc.ip, err, tc.ok)
		}
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
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()

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

// A file written with the global due index (before the per-endpoint
// queue) is converted at Open, and its pending deliveries go out.
func TestOldDueIndexIsConverted(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, path := openTestOutbox(t, OutboxOptions{})
	var ids []string
	for i := range 3 {
		d, err := NewDelivery(rc.URL, "screenshot.finished", []byte(sampleBody), testSecret, time.Now().Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		mustEnqueue(t, ob, d)
		ids = append(ids, d.ID)
	}
	ob.Close()
	// Back to the old layout: due = time id, no queue.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		due, err := tx.CreateBucket(bDue)
		if err != nil {
			return err
		}
		for _, id := range ids {
			d, err := getMeta(tx, []byte(id))
			if err != nil {
				return err
			}
			if err := due.Put(dueKey(d.NextAttempt, d.ID), nil); err != nil {
				return err
			}
		}
		due.Put([]byte("short"), nil) // a malformed entry is dropped
		return tx.DeleteBucket(bQueue)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	for _, id := range ids {
		if got := waitNotPending(t, ob, id); got.State != StateDelivered {
			t.Errorf("%s: %s %q", id, got.State, got.LastError)
		}
	}
	ob.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bDue) != nil {
			t.Error("the old due index is still there")
		}
		return nil
	})
}
