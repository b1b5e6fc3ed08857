package sender

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

const childEnv = "SCGATE_SENDER_CRASH_CHILD"

// TestCrashChild is the subprocess of TestCrashSafety: it runs a sender on
// the outbox named by the environment until nothing is pending.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("subprocess of TestCrashSafety")
	}
	ob, err := OpenOutbox(path, OutboxOptions{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	c, err := NewClient(ClientOptions{Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ob, Options{Client: c, Workers: 4, PerEndpoint: 4, Schedule: instantSchedule})
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	eventually.Succeeds(t, 2*time.Minute, func() error {
		n, err := ob.Count()
		if err == nil && n[StatePending] != 0 {
			err = fmt.Errorf("%d deliveries pending", n[StatePending])
		}
		return err
	})
}

// A sender killed hard mid-flight loses nothing: after a restart every
// delivery ends delivered (at least once; the receiver dedupes).
func TestCrashSafety(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the subprocess")
	}
	var mu sync.Mutex
	seen := 0
	rc := newReceiver(t, func(int, *http.Request, http.ResponseWriter) int {
		mu.Lock()
		seen++
		mu.Unlock()
		time.Sleep(50 * time.Millisecond) // keep attempts in flight
		return 200
	})
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const total = 60
	ids := map[string]bool{}
	for i := 0; i < total; i++ {
		d := newTestDelivery(t, rc.URL)
		ids[d.ID] = true
		mustEnqueue(t, ob, d)
	}
	ob.Close()

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := start()
	if err := eventually.Within(60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if seen < 10 {
			return fmt.Errorf("the first sender made %d requests, want 10", seen)
		}
		return nil
	}); err != nil {
		first.Process.Kill()
		t.Fatal(err)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	mu.Lock()
	atKill := seen
	mu.Unlock()

	second := start()
	waitErr := make(chan error, 1)
	go func() { waitErr <- second.Wait() }()
	if err := eventually.Within(3*time.Minute, func() error {
		select {
		case err := <-waitErr:
			if err != nil {
				return fmt.Errorf("second sender: %w", err)
			}
			return nil
		default:
			return errors.New("second sender did not finish")
		}
	}); err != nil {
		second.Process.Kill()
		t.Fatal(err)
	}

	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	counts, _ := ob.Count()
	if counts[StateDelivered] != total {
		t.Fatalf("states after restart: %v, want %d delivered", counts, total)
	}
	got := rc.distinct()
	dups := 0
	for id := range ids {
		if got[id] == 0 {
			t.Errorf("delivery %s never reached the endpoint", id)
		}
		dups += got[id] - 1
	}
	t.Logf("killed after %d requests; %d deliveries, %d redelivered after the crash (interrupted leases)",
		atKill, total, dups)
}
