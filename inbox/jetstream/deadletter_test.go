package jetstream

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/natstest"
)

// An event whose attempts run out is a dead letter: listed as failed,
// counted, replayable; its replay is delivered with the next attempt
// number and the gateway's headers, and its log holds every attempt. An
// event with an order key is refused.
func TestDeadLetterReplay(t *testing.T) {
	srv := natstest.Start(t)
	ap := newApp(t, freeAddr(t), false)
	ap.setCode(500)
	e := open(t, srv.URL(), inbox.Settings{Destination: ap.URL, Attempts: 2, Backoff: []time.Duration{10 * time.Millisecond}, Timeout: 2 * time.Second}, nil)
	run(t, e)
	if _, err := e.Enqueue(inbox.Event{Body: []byte("{}"), OrderKey: "k"}); !errors.Is(err, ErrOrderUnsupported) {
		t.Fatalf("an order key: %v, want ErrOrderUnsupported", err)
	}
	id, err := e.Enqueue(event(1))
	if err != nil {
		t.Fatal(err)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		dead, err := e.List(inbox.StateFailed, 0)
		if err != nil || len(dead) != 1 || dead[0].ID != id {
			return fmt.Errorf("dead letters %v, %v", dead, err)
		}
		return nil
	})
	if st, err := e.Stats(); err != nil || st.Entries[inbox.StateFailed] != 1 || st.Entries[inbox.StatePending] != 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	ap.setCode(204)
	if _, err := e.Replay(id); err != nil {
		t.Fatal(err)
	}
	ap.waitDelivered(t, []string{id})
	ap.mu.Lock()
	h := ap.last
	ap.mu.Unlock()
	for name, want := range map[string]string{inbox.HeaderDeliveryAttempt: "3", inbox.HeaderVerified: "true", inbox.HeaderDedupeKey: "sc_1", "X-Screenshotcenter-Event": "screenshot.finished"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		entry, log, err := e.Get(id)
		if err != nil {
			return err
		}
		if entry.State != inbox.StateDelivered || len(log) != 3 || log[2].Outcome != inbox.OutcomeDelivered || string(entry.Body) != string(event(1).Body) {
			return fmt.Errorf("entry %s after replay, log %+v", entry.State, log)
		}
		return nil
	})
	if _, err := e.Replay("no-such-id"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("replay of an unknown id: %v", err)
	}
}
