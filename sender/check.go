package sender

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A damaged outbox file must be a clear error at open, never a panic that
// takes the whole process (and a receiving gateway in it) down, and never
// a new empty store in its place. bbolt trusts its file: it panics on a
// page that is not what it expects ("Page expected to be: 9, but self
// identifies as 0"), and reading a page past the end of a truncated file
// is a SIGBUS, which Go does not turn into a panic. So OpenOutbox
//
//   - refuses an empty file (bbolt would make a new store of it) and
//     checks the header before bbolt maps anything: the file must be as
//     long as its newest valid meta page says (precheck);
//   - runs bbolt's calls under guard, which turns a memory fault into a
//     panic (debug.SetPanicOnFault) and a panic into an ErrDamaged error;
//   - walks every key and value of every bucket under guard, in key order,
//     then runs bbolt's own consistency check (Tx.Check: page types,
//     references, the freelist), so that a damaged page is found at open,
//     not by a purge hours later. The walk goes first because Tx.Check
//     runs in a goroutine of its own that guard cannot protect: once the
//     walk has touched every reachable page, Tx.Check reads nothing new.
//
// The check reads the whole file (0.6 to 0.8s for a 1 GiB outbox from the
// page cache).
// OpenOutbox waits for it up to OutboxOptions.CheckTimeout; a check that
// takes longer goes on in the background and reports to OnLateCheck.

// DefaultCheckTimeout is how long OpenOutbox waits for the consistency
// check of an existing file.
const DefaultCheckTimeout = 30 * time.Second

// emptyFileRecheck is how long an empty file is given to become an outbox
// (another process may have just created it and be writing its first
// pages) before it is refused.
const emptyFileRecheck = 100 * time.Millisecond

// checkHook, if set (by tests), runs as a check starts.
var checkHook func()

// errCheckLate is what checkFile returns when the check outlives its
// timeout.
var errCheckLate = errors.New("consistency check still running")

// damaged is the error of a damaged outbox file: what is wrong and what to
// do.
func damaged(path, what string) error {
	return fmt.Errorf("%s: %w (%s): move it aside (e.g. mv %s %s.damaged) to start with an empty outbox; its deliveries are then lost unless you restore the file from a backup",
		path, ErrDamaged, what, path, path)
}

// guard runs fn, turning a memory fault or a panic in it into an error
// wrapping ErrDamaged. bbolt rolls back its transaction as a panic goes
// through View or Update, so the DB stays usable (and closable).
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(path, fmt.Sprint(r))
		}
	}()
	return fn()
}

// guardTx runs a transaction of an open outbox, turning a memory fault or
// a panic in it into an error: a page damaged after the check at open must
// not take the process down. It does not say the file is damaged, as the
// panic may as well come from a bug in the transaction's function; the
// check at the next open tells.
func guardTx(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: an outbox transaction panicked (a damaged file, or a bug): %v", path, r)
		}
	}()
	return fn()
}

// bbolt's meta page: after the 16-byte page header, magic, version, page
// size, flags, the root bucket (page, sequence), freelist page, high-water
// page id and transaction id, then an FNV-64a checksum of the bytes before
// it. In the machine's byte order, as bbolt writes it.
const (
	pageHeaderSize = 16
	metaSize       = 64
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
)

type meta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// readMeta reads and validates the meta page at off; ok is false when it
// is not a valid meta page.
func readMeta(f *os.File, off int64) (m meta, ok bool) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return m, false
	}
	mb := b[pageHeaderSize:]
	e := binary.NativeEndian
	if e.Uint32(mb[0:]) != metaMagic || e.Uint32(mb[4:]) != metaVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(mb[:56])
	if h.Sum64() != e.Uint64(mb[56:]) {
		return m, false
	}
	m = meta{pageSize: e.Uint32(mb[8:]), pgid: e.Uint64(mb[40:]), txid: e.Uint64(mb[48:])}
	return m, m.pageSize >= 512 && m.pageSize <= 1<<20
}

// precheck looks at an existing file before bbolt maps it: it must not be
// empty and must be as long as its newest valid meta page says. A missing
// file is nil (it is created); one that cannot be read is its error.
func precheck(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		time.Sleep(emptyFileRecheck)
		if fi, err = f.Stat(); err != nil {
			return err
		}
		if fi.Size() == 0 {
			return damaged(path, "the file is empty (0 bytes), not an outbox")
		}
	}
	m0, ok0 := readMeta(f, 0)
	ps := int64(os.Getpagesize())
	if ok0 {
		ps = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, ps)
	m := m0
	switch {
	case !ok0 && !ok1:
		return damaged(path, "no valid meta page: not an outbox, or its first pages are damaged")
	case !ok0 || (ok1 && m1.txid > m0.txid):
		m = m1
	}
	if need := int64(m.pgid) * int64(m.pageSize); fi.Size() < need {
		return damaged(path, fmt.Sprintf("the file is %d bytes, its header says %d: truncated", fi.Size(), need))
	}
	return nil
}

// openErr turns bbolt's errors about a file that is not a valid database
// into ErrDamaged ones.
func openErr(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrInvalidMapping), errors.Is(err, io.ErrUnexpectedEOF):
		return damaged(path, err.Error())
	}
	return err
}

// checkFile runs the consistency check of an open outbox and waits for it
// up to timeout: nil when the file is consistent, an ErrDamaged error, or
// errCheckLate, in which case the check goes on and late gets its result.
func checkFile(db *bolt.DB, path string, timeout time.Duration, late func(error)) error {
	result := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		if checkHook != nil {
			checkHook()
		}
		err := guard(path, func() error { return db.View(func(tx *bolt.Tx) error { return verify(tx, path) }) })
		select {
		case result <- err:
		case <-waiting:
		}
		select {
		case <-waiting:
			if late != nil {
				late(err)
			}
		default:
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-result:
		return err
	case <-t.C:
		close(waiting)
		return errCheckLate
	}
}

// verify walks every bucket, then runs bbolt's check (see the top of the
// file for why in this order). It returns the first problem found.
func verify(tx *bolt.Tx, path string) error {
	var sum byte
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		return walk(b, path, &sum)
	})
	runtime.KeepAlive(sum)
	if err != nil {
		return err
	}
	var first error
	n := 0
	for e := range tx.Check() {
		if first == nil {
			first = e
		}
		n++
	}
	if first != nil {
		return damaged(path, fmt.Sprintf("%d problems, the first: %v", n, first))
	}
	return nil
}

// walk reads every key and value of b and its nested buckets, touching
// every page of each value, and checks that the keys come in order.
func walk(b *bolt.Bucket, path string, sum *byte) error {
	c := b.Cursor()
	var prev []byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return damaged(path, "keys out of order")
		}
		prev = k
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				if err := walk(nb, path, sum); err != nil {
					return err
				}
			}
			continue
		}
		for i := 0; i < len(v); i += 4096 {
			*sum ^= v[i]
		}
		if len(v) > 0 {
			*sum ^= v[len(v)-1]
		}
	}
	return nil
}
