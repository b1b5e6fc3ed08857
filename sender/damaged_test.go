package sender_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/outboxtest"
	"github.com/scgate/scgate/sender"
)

// A damaged outbox (truncated, a page overwritten with zeros or garbage,
// empty) is an error naming the file and what to do, never a panic and
// never a new empty store, read-only or not, and opening it changes
// nothing in it; the healthy original opens.
func TestDamagedOutboxIsAnError(t *testing.T) {
	healthy, damaged := outboxtest.Files(t, t.TempDir())
	for _, ro := range []bool{false, true} {
		ob, err := sender.OpenOutbox(healthy, sender.OutboxOptions{ReadOnly: ro})
		if err != nil {
			t.Fatalf("healthy outbox (read-only %v): %v", ro, err)
		}
		if c, err := ob.Count(); err != nil || c[sender.StatePending] != outboxtest.Deliveries {
			t.Fatalf("healthy outbox counts %v, %v", c, err)
		}
		ob.Close()
	}
	for name, path := range damaged {
		t.Run(name, func(t *testing.T) {
			for _, ro := range []bool{true, false} {
				before, _ := os.ReadFile(path)
				ob, err := sender.OpenOutbox(path, sender.OutboxOptions{ReadOnly: ro})
				if err == nil {
					ob.Close()
					t.Fatalf("read-only %v: opened", ro)
				}
				msg := err.Error()
				if !errors.Is(err, sender.ErrDamaged) || !strings.Contains(msg, path) || !strings.Contains(msg, "move") {
					t.Fatalf("read-only %v: %v, want ErrDamaged naming the file and what to do", ro, err)
				}
				if after, _ := os.ReadFile(path); string(after) != string(before) {
					t.Fatalf("read-only %v: opening a damaged outbox changed it", ro)
				}
			}
		})
	}
}

// A check that outlives CheckTimeout does not hold up the open: the
// outbox is usable at once, and the check's result arrives later.
func TestLateCheckReportsAfterTheOpen(t *testing.T) {
	healthy, _ := outboxtest.Files(t, t.TempDir())
	opened := make(chan struct{})
	sender.SetCheckHook(t, func() { <-opened })
	late := make(chan error, 1)
	ob, err := sender.OpenOutbox(healthy, sender.OutboxOptions{CheckTimeout: time.Millisecond, OnLateCheck: func(err error) { late <- err }})
	close(opened)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if c, err := ob.Count(); err != nil || c[sender.StatePending] != outboxtest.Deliveries {
		t.Fatalf("counts %v, %v", c, err)
	}
	select {
	case err := <-late:
		if err != nil {
			t.Fatalf("late check of a healthy outbox: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the late check never reported")
	}
}

// A store path that is not a file that can be written says so and names
// the file: a directory is not reported as a damaged outbox (whose advice
// is to move it aside), and a path under a regular file names the store.
func TestOpenOutboxOnAPathThatIsNoFile(t *testing.T) {
	dir := t.TempDir()
	_, err := sender.OpenOutbox(dir, sender.OutboxOptions{})
	if err == nil || errors.Is(err, sender.ErrDamaged) || !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("a directory as the store: %v, want it said to be a directory", err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(plain, "outbox.db")
	_, err = sender.OpenOutbox(store, sender.OutboxOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), store+": ") {
		t.Errorf("a store under a regular file: %v, want an error naming %s", err, store)
	}
}
