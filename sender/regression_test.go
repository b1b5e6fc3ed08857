package sender

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Run with a context already done returns at once: nothing is sent,
// leased, recovered or purged.
func TestRunWithDoneContext(t *testing.T) {
	rc := newReceiver(t, nil)
	ob, _ := openTestOutbox(t, OutboxOptions{})
	d, err := NewDelivery(rc.URL, "screenshot.finished", []byte(sampleBody), testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Enqueue(d); err != nil {
		t.Fatal(err)
	}
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
		d, err := NewDelivery(rc.URL, "screenshot.finished", []byte(sampleBody), testSecret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d.Net = c.net
		if err := ob.Enqueue(d); err != nil {
			t.Fatal(err)
		}
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
