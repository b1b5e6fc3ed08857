package sender

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// OutboxOptions configure an Outbox.
type OutboxOptions struct {
	// NoBatch commits every change in its own transaction (one fsync
	// each) instead of group-committing concurrent changes.
	NoBatch bool
	// LockTimeout is how long Open waits for another process to release
	// the file lock. Default 1s.
	LockTimeout time.Duration
	// ReadOnly opens an existing outbox for reading only: nothing in the
	// file changes (not even its modification time), it works on a
	// read-only file, and other readers may hold it at the same time;
	// every change fails with ErrReadOnly. For inspecting a store.
	ReadOnly bool
	// CheckTimeout bounds how long Open waits for the consistency check
	// of an existing file (check.go); a check that takes longer goes on
	// in the background, holding a read transaction (writes that must
	// grow the file wait for it), and reports to OnLateCheck. Default
	// DefaultCheckTimeout.
	CheckTimeout time.Duration
	// OnLateCheck, if set, gets the result of a consistency check that
	// outlived CheckTimeout: nil, or an error wrapping ErrDamaged. It is
	// called from the check's goroutine.
	OnLateCheck func(error)
}

// Outbox is the durable store of deliveries, a bbolt file. bbolt locks the
// file exclusively: one process at a time (or several read-only ones).
type Outbox struct {
	db      *bolt.DB
	noBatch bool
	path    string

	// Group commit: changes queued while a commit runs go together in
	// the next one.
	gmu     sync.Mutex
	queue   []*change
	leading bool

	// Round robin of lease passes over endpoints, when there are more
	// than leaseScanLimit: where the next pass starts.
	rrMu   sync.Mutex
	rrNext []byte
}

// OpenOutbox opens (creating it, mode 0600, in a 0700 directory if needed)
// the outbox at path. It changes nothing in a file that is already an
// outbox: attempts that were in flight when a previous process stopped are
// recovered by Sender.Run (see RecoverLeases). An existing file is checked
// first (check.go): an empty, truncated or otherwise damaged one is an
// error wrapping ErrDamaged that names the file and what to do, never a
// panic and never a new store in its place.
func OpenOutbox(path string, opts OutboxOptions) (*Outbox, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = DefaultCheckTimeout
	}
	existed := false
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory: the store is a file (such as %s)", path, filepath.Join(path, "scgate.db"))
		}
		existed = true
	}
	if opts.ReadOnly {
		// bbolt would create a missing file even when asked to read.
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%s: creating its directory: %w", path, err)
	}
	if err := precheck(path); err != nil {
		return nil, err
	}
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, ReadOnly: opts.ReadOnly})
		return err
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrStoreLocked)
		}
		return nil, openErr(path, err)
	}
	ob := &Outbox{db: db, noBatch: opts.NoBatch, path: path}
	if existed {
		if err := checkFile(db, path, opts.CheckTimeout, opts.OnLateCheck); err != nil && !errors.Is(err, errCheckLate) {
			db.Close()
			return nil, err
		}
	}
	ready, err := ob.ready(opts.ReadOnly)
	if err != nil {
		db.Close()
		return nil, err
	}
	switch {
	case ready:
		// Nothing to create: do not write.
	case opts.ReadOnly:
		db.Close()
		return nil, fmt.Errorf("%s: %w (its buckets are missing)", path, ErrInvalidFormat)
	default:
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return ob, nil
}

// ready reports whether every bucket exists (a read transaction); for
// reading only, the laterBuckets need not.
func (ob *Outbox) ready(readOnly bool) (bool, error) {
	ok := true
	err := guard(ob.path, func() error {
		return ob.db.View(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if tx.Bucket(b) == nil && !(readOnly && slices.ContainsFunc(laterBuckets, func(l []byte) bool { return bytes.Equal(l, b) })) {
					ok = false
				}
			}
			return nil
		})
	})
	return ok, err
}

// Path returns the file path.
func (ob *Outbox) Path() string { return ob.path }

// Close closes the file. Leases still held are recovered by the next
// Sender.Run on it.
func (ob *Outbox) Close() error { return ob.db.Close() }

// Enqueue durably stores pending deliveries, all or none, before returning.
// A delivery with an OrderKey joins the end of its key's line.
func (ob *Outbox) Enqueue(ds ...*Delivery) error {
	for _, d := range ds {
		if err := d.Net.check(); err != nil {
			return fmt.Errorf("enqueue %s: %w", d.ID, err)
		}
		if k := orderKey(d.OrderKey); k != d.OrderKey {
			d.OrderKey = k
		}
	}
	return ob.update(func(tx *bolt.Tx) error {
		for _, d := range ds {
			if d.State != StatePending {
				return fmt.Errorf("enqueue %s: state %s, want pending", d.ID, d.State)
			}
			if tx.Bucket(bDeliveries).Get([]byte(d.ID)) != nil {
				return fmt.Errorf("enqueue %s: id exists", d.ID)
			}
			if err := tx.Bucket(bPayloads).Put([]byte(d.ID), encodePayload(d.Secret, d.Body)); err != nil {
				return err
			}
			if err := putHeaders(tx, d); err != nil {
				return err
			}
			if err := tx.Bucket(bStates).Put(stateKey(d.State, d.ID), nil); err != nil {
				return err
			}
			// putMeta after queue: joining a line sets OrderPos.
			if err := queue(tx, d); err != nil {
				return err
			}
			if err := putMeta(tx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// change is one queued update and where its result goes.
type change struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// maxGroup bounds the changes committed in one transaction.
const maxGroup = 1000

// update applies fn in a durable write transaction. Unless NoBatch is set,
// concurrent changes are group-committed: the first caller starts a
// committer that runs everything queued in one transaction (one fsync) as
// soon as the previous commit is done, with no added delay (bbolt's Batch
// waits up to 10ms for company, which capped throughput at callers/10ms).
// As with Batch, fn may run more than once and must only depend on tx: if
// one fn fails, the transaction is rolled back and the others are retried
// without it, and it is run alone to report its own error.
func (ob *Outbox) update(fn func(*bolt.Tx) error) error {
	if ob.noBatch {
		return ob.updateAlone(fn)
	}
	c := &change{fn: fn, done: make(chan error, 1)}
	ob.gmu.Lock()
	ob.queue = append(ob.queue, c)
	if !ob.leading {
		ob.leading = true
		go ob.commitLoop()
	}
	ob.gmu.Unlock()
	return apiErr(<-c.done)
}

// updateAlone applies fn in a write transaction of its own, not grouped
// with others: for changes that must not make concurrent enqueues wait for
// them (a purge), or that read what they write (a lease).
func (ob *Outbox) updateAlone(fn func(*bolt.Tx) error) error {
	return apiErr(guardTx(ob.path, func() error { return ob.db.Update(fn) }))
}

// view runs fn in a read transaction. As every transaction, under
// guardTx: a page damaged after the check at open is an error, not a
// panic.
func (ob *Outbox) view(fn func(*bolt.Tx) error) error {
	return apiErr(guardTx(ob.path, func() error { return ob.db.View(fn) }))
}

// apiErr turns bbolt's errors about the file's state into the package's.
func apiErr(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, bolterrors.ErrDatabaseReadOnly):
		return ErrReadOnly
	}
	return err
}

// commitLoop commits queued changes in groups until the queue is empty.
func (ob *Outbox) commitLoop() {
	for {
		ob.gmu.Lock()
		n := min(len(ob.queue), maxGroup)
		if n == 0 {
			ob.leading = false
			ob.gmu.Unlock()
			return
		}
		group := append([]*change(nil), ob.queue[:n]...)
		ob.queue = append(ob.queue[:0], ob.queue[n:]...)
		ob.gmu.Unlock()
		ob.commitGroup(group)
	}
}

func (ob *Outbox) commitGroup(group []*change) {
	for len(group) > 0 {
		failed := -1
		err := guardTx(ob.path, func() error {
			return ob.db.Update(func(tx *bolt.Tx) error {
				for i, c := range group {
					if err := c.fn(tx); err != nil {
						failed = i
						return err
					}
				}
				return nil
			})
		})
		if failed < 0 {
			for _, c := range group {
				c.done <- err
			}
			return
		}
		c := group[failed]
		group = append(group[:failed:failed], group[failed+1:]...)
		c.done <- guardTx(ob.path, func() error { return ob.db.Update(c.fn) })
	}
}
