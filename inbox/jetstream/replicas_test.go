package jetstream

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/natstest"
)

// enqueueAll enqueues events [from, to) through e from 16 goroutines and
// returns the acknowledged ids; each event is retried until acknowledged
// (as the provider retries a 503), and the failed Enqueues are counted.
func enqueueAll(t *testing.T, e *Engine, from, to int) (ids []string, failures int, slowest time.Duration) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := from + g; i < to; i += 16 {
				for {
					start := time.Now()
					id, err := e.Enqueue(event(i))
					took := time.Since(start)
					mu.Lock()
					if err != nil {
						failures++
						slowest = max(slowest, took)
					} else {
						ids = append(ids, id)
					}
					mu.Unlock()
					if err == nil {
						break
					}
					time.Sleep(20 * time.Millisecond) // the provider's retry
				}
			}
		})
	}
	wg.Wait()
	return ids, failures, slowest
}

// Two replicas on one server, the application down: 1,000 events
// acknowledged through both; one replica dies with attempts in flight
// (they are never acked) and its disk is gone (it has none: the engine
// keeps nothing on the replica); the application starts: the survivor
// delivers every acknowledged event, none lost, and none twice (the dead
// replica's attempts never got an answer).
func TestTwoReplicasLoseNothing(t *testing.T) {
	srv := natstest.Start(t)
	appAddr := freeAddr(t)
	hole := newApp(t, freeAddr(t), true) // replica A's destination never answers
	set := inbox.Settings{Attempts: 1000, Backoff: []time.Duration{50 * time.Millisecond}, Timeout: 2 * time.Second}
	setA, setB := set, set
	setA.Destination, setB.Destination = hole.URL, "http://"+appAddr
	a := open(t, srv.URL(), setA, nil)
	b := open(t, srv.URL(), setB, nil)
	stopA := run(t, a)
	run(t, b)

	var idsA, idsB []string
	var wg sync.WaitGroup
	wg.Go(func() { idsA, _, _ = enqueueAll(t, a, 0, 500) })
	wg.Go(func() { idsB, _, _ = enqueueAll(t, b, 500, 1000) })
	wg.Wait()
	ids := append(idsA, idsB...)
	if len(ids) != 1000 {
		t.Fatalf("%d events acknowledged, want 1000", len(ids))
	}
	// A holds attempts in flight when it dies.
	eventually.Succeeds(t, waitTimeout, func() error {
		if _, seen := hole.counts(); len(seen) == 0 {
			return fmt.Errorf("replica A has no attempt in flight yet")
		}
		return nil
	})
	a.Close() // abruptly: no ack, no nak
	stopA()
	_, held := hole.counts()

	ap := newApp(t, appAddr, false)
	got := ap.waitDelivered(t, ids)
	dup := twice(got)
	t.Logf("1000 acknowledged (500 through each replica); replica A died holding %d entries mid-attempt; delivered: %d entries, %d of them more than once", len(held), len(got), dup)
	if dup > 0 {
		t.Errorf("%d entries delivered twice, though no attempt that got an answer was cut short", dup)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		st, err := b.Stats()
		if err != nil {
			return err
		}
		if st.Entries[inbox.StateDelivered] != 1000 || st.Entries[inbox.StatePending] != 0 || !st.OldestPending.IsZero() {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// The server is killed (SIGKILL) and restarted on its file store while
// 1,000 events are being enqueued: Enqueue fails fast while it is away,
// every acknowledged event is delivered once the application is up, and
// the engine heals without being reopened.
func TestServerRestartDuringEnqueue(t *testing.T) {
	srv := natstest.Start(t)
	appAddr := freeAddr(t)
	e := open(t, srv.URL(), inbox.Settings{Destination: "http://" + appAddr, Attempts: 1000,
		Backoff: []time.Duration{50 * time.Millisecond}, Timeout: 2 * time.Second}, nil)
	run(t, e)

	var ids []string
	var failures int
	var slowest time.Duration
	done := make(chan struct{})
	go func() { defer close(done); ids, failures, slowest = enqueueAll(t, e, 0, 1000) }()
	eventually.Succeeds(t, waitTimeout, func() error {
		if st, err := e.Stats(); err != nil || st.Entries[inbox.StatePending] < 300 {
			return fmt.Errorf("waiting for 300 queued: %+v %v", st, err)
		}
		return nil
	})
	srv.Stop()
	eventually.Succeeds(t, waitTimeout, func() error {
		if _, err := e.Enqueue(event(5000)); err == nil {
			return fmt.Errorf("an Enqueue succeeded with the server down")
		}
		return nil
	})
	srv.Restart()
	<-done
	if len(ids) != 1000 {
		t.Fatalf("%d events acknowledged, want 1000", len(ids))
	}
	ap := newApp(t, appAddr, false)
	got := ap.waitDelivered(t, ids)
	dup := twice(got)
	t.Logf("1000 acknowledged across a SIGKILL and restart of nats-server; %d Enqueues failed meanwhile (the slowest failure took %v); %d entries delivered, %d more than once", failures, slowest.Round(time.Millisecond), len(got), dup)
}
