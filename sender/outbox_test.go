package sender

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Concurrent changes are committed in groups; one that fails is reported
// to its caller alone, and the others of its group are still stored.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	dup := newTestDelivery(t, "http://127.0.0.1:9/")
	if err := ob.Enqueue(dup); err != nil {
		t.Fatal(err)
	}
	const fresh, dups = 40, 10
	errs := make([]error, fresh+dups)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := dup
			if i < fresh {
				d = newTestDelivery(t, "http://127.0.0.1:9/")
			}
			errs[i] = ob.Enqueue(d)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if i < fresh && err != nil {
			t.Errorf("fresh enqueue %d: %v", i, err)
		}
		if i >= fresh && (err == nil || !strings.Contains(err.Error(), "id exists")) {
			t.Errorf("duplicate enqueue %d: %v, want id exists", i, err)
		}
	}
	if c, err := ob.Count(); err != nil || c[StatePending] != fresh+1 {
		t.Fatalf("Count = %v, %v; want %d pending", c, err, fresh+1)
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

// Opening an outbox that exists writes nothing; opening a fresh one
// creates every bucket.
func TestOpenWritesOnlyWhatIsMissing(t *testing.T) {
	ob, path := openTestOutbox(t, OutboxOptions{})
	mustEnqueue(t, ob, newTestDelivery(t, "http://127.0.0.1:9/"))
	ob.Close()
	before := fileState(t, path)
	ob, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ob.Close()
	if after := fileState(t, path); !after.equal(before) {
		t.Fatal("reopening an outbox changed its file")
	}
}

// A read-only outbox reads like any other, changes nothing in the file
// (bytes and modification time), works on a file the process may not
// write, refuses every change with ErrReadOnly, and may be open next to
// another reader; a writer holding the file keeps it locked.
func TestOpenReadOnly(t *testing.T) {
	ob, path := openTestOutbox(t, OutboxOptions{})
	d := newTestDelivery(t, "http://127.0.0.1:9/")
	mustEnqueue(t, ob, d)
	if b, err := ob.lease(time.Now(), 1, func(string) int { return 1 }); err != nil || len(b.leased) != 1 {
		t.Fatalf("lease: %+v, %v", b, err)
	}
	// Held by a writer: a reader waits for the lock, then gives up.
	if _, err := OpenOutbox(path, OutboxOptions{ReadOnly: true, LockTimeout: 20 * time.Millisecond}); !errors.Is(err, ErrStoreLocked) {
		t.Fatalf("read-only open of a held file = %v, want ErrStoreLocked", err)
	}
	ob.Close()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	before := fileState(t, path)

	ro, err := OpenOutbox(path, OutboxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a 0400 file: %v", err)
	}
	second, err := OpenOutbox(path, OutboxOptions{ReadOnly: true, LockTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	second.Close()
	if got, _, err := ro.Get(d.ID); err != nil || got.ID != d.ID || string(got.Body) != sampleBody {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if list, err := ro.List(StatePending, 0); err != nil || len(list) != 1 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	if c, err := ro.Count(); err != nil || c[StatePending] != 1 {
		t.Fatalf("Count = %v, %v", c, err)
	}
	changes := map[string]func() error{
		"Enqueue":       func() error { return ro.Enqueue(newTestDelivery(t, "http://127.0.0.1:9/")) },
		"Retry":         func() error { _, err := ro.Retry(d.ID, time.Now()); return err },
		"Purge":         func() error { _, err := ro.Purge(time.Now().Add(time.Hour), 0); return err },
		"RecoverLeases": func() error { _, err := ro.RecoverLeases(time.Now()); return err },
	}
	for name, change := range changes {
		if err := change(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only outbox = %v, want ErrReadOnly", name, err)
		}
	}
	ro.Close()
	if after := fileState(t, path); !after.equal(before) {
		t.Fatal("a read-only open changed the file")
	}

	missing := filepath.Join(t.TempDir(), "none", "outbox.db")
	if _, err := OpenOutbox(missing, OutboxOptions{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing file = %v, want not exist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a read-only open created the directory")
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	db, err := bolt.Open(empty, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenOutbox(empty, OutboxOptions{ReadOnly: true}); !errors.Is(err, ErrInvalidFormat) {
		t.Fatalf("read-only open of a bbolt file without buckets = %v, want ErrInvalidFormat", err)
	}
}

// snapshot is a file's bytes and modification time.
type snapshot struct {
	data  []byte
	mtime time.Time
}

func (s snapshot) equal(o snapshot) bool {
	return bytes.Equal(s.data, o.data) && s.mtime.Equal(o.mtime)
}

func fileState(t *testing.T, path string) snapshot {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{data: data, mtime: st.ModTime()}
}
