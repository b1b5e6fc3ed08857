package sender

import (
	"context"
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
