package inbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/sender"
)

// A tool opens an inbox file no gateway holds: read-only it lists and
// shows entries and changes nothing; for writing it replays them, and
// the next gateway on the file delivers them. While a gateway holds the
// file, OpenFile fails at once with ErrStoreLocked.
func TestFile(t *testing.T) {
	ds := newDestination(t, nil)
	path := filepath.Join(t.TempDir(), "inbox.db")
	in, err := Open(path, Options{Settings: Settings{Destination: ds.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(path, false); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("OpenFile while a gateway holds the file = %v, want ErrStoreLocked", err)
	}
	ev := event(1, "")
	id, err := in.Enqueue(ev)
	if err != nil {
		t.Fatal(err)
	}
	in.Close()

	ro, err := OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ro.List(StatePending, 0); err != nil || len(got) != 1 || got[0].ID != id {
		t.Fatalf("List = %v, %v", got, err)
	}
	if e, _, err := ro.Get(id); err != nil || string(e.Body) != string(ev.Body) {
		t.Fatalf("Get = %v, %v", e, err)
	}
	if st, err := ro.Stats(); err != nil || st.Entries[StatePending] != 1 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if _, err := ro.Replay(id); !errors.Is(err, sender.ErrReadOnly) {
		t.Errorf("Replay on a read-only file = %v, want ErrReadOnly", err)
	}
	ro.Close()

	// Delivered by a gateway, then replayed by the tool, then delivered
	// again by the next gateway.
	in, err = Open(path, Options{Settings: Settings{Destination: ds.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	eventually.Succeeds(t, waitTimeout, func() error {
		if e, _, err := in.Get(id); err != nil || e.State != StateDelivered {
			return fmt.Errorf("entry %v, %v; want delivered", e, err)
		}
		return nil
	})
	cancel()
	<-done
	in.Close()
	rw, err := OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := rw.Replay(id); err != nil || e.State != StatePending {
		t.Fatalf("Replay = %+v, %v", e, err)
	}
	if got, err := rw.ReplayAll(StateFailed, time.Time{}, time.Time{}); err != nil || len(got) != 0 {
		t.Fatalf("ReplayAll of no failed entry = %v, %v", got, err)
	}
	rw.Close()
	if in, err = Open(path, Options{Settings: Settings{Destination: ds.URL}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	run(t, in)
	if got := ds.waitDelivered(t, 2); got[1].Header.Get(HeaderDeliveryAttempt) != "2" {
		t.Errorf("the replay's attempt %q, want 2", got[1].Header.Get(HeaderDeliveryAttempt))
	}
}
