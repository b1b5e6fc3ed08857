package sender

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Keys:
//
//	deliveries: id                      -> JSON Delivery (no body, no secret)
//	payloads:   id                      -> uvarint(len secret) secret body
//	queue:      endpoint 0x00 8-byte BE unix nanos id -> nil, for pending,
//	            not leased deliveries: due times per endpoint (scheme and
//	            host, as the per-endpoint limit groups them), so that a
//	            lease skips a saturated endpoint's backlog with one seek
//	due:        the global due index of files written before queue; moved
//	            to queue and deleted at Open
//	leased:     id                      -> nil, while an attempt is in flight
//	states:     state 0x00 id           -> nil
//	log:        id 0x00 4-byte BE index -> JSON Attempt
//	final:      8-byte BE unix nanos id -> nil, for delivered, failed and
//	            gone deliveries, by the time they became final (UpdatedAt)
var (
	bDeliveries = []byte("deliveries")
	bPayloads   = []byte("payloads")
	bQueue      = []byte("queue")
	bDue        = []byte("due") // before queue
	bLeased     = []byte("leased")
	bStates     = []byte("states")
	bLog        = []byte("log")
	bFinal      = []byte("final")
	allBuckets  = [][]byte{bDeliveries, bPayloads, bLeased, bStates, bLog}
)

// leaseScanLimit bounds how many endpoints one lease pass looks at; the
// next pass goes on from where it stopped. An endpoint's backlog costs a
// pass one seek, however long it is.
const leaseScanLimit = 4096

// OutboxOptions configure an Outbox.
type OutboxOptions struct {
	// NoBatch commits every change in its own transaction (one fsync
	// each) instead of group-committing concurrent changes.
	NoBatch bool
	// LockTimeout is how long Open waits for another process to release
	// the file lock. Default 1s.
	LockTimeout time.Duration
	// NoRecover leaves the leases found at Open alone: Sender.Run
	// recovers them when it starts. For a process that opens the file
	// before it knows it will deliver (Caddy provisions a config that
	// `caddy validate` then discards).
	NoRecover bool
}

// Outbox is the durable store of deliveries, a bbolt file. bbolt locks the
// file exclusively: one process at a time.
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

	// Recovered is how many interrupted attempts were found at Open.
	Recovered int
}

// OpenOutbox opens (creating it, mode 0600, in a 0700 directory if needed)
// the outbox at path. Attempts that were in flight when a previous process
// died are logged as interrupted, not counted, and made due at once.
func OpenOutbox(path string, opts OutboxOptions) (*Outbox, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrStoreLocked)
		}
		return nil, err
	}
	ob := &Outbox{db: db, noBatch: opts.NoBatch, path: path}
	if opts.NoRecover && ob.ready() {
		// Nothing to create or migrate: do not write.
		return ob, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if tx.Bucket(bFinal) == nil {
			if err := indexFinal(tx); err != nil {
				return err
			}
		}
		if tx.Bucket(bQueue) == nil {
			if err := indexQueue(tx); err != nil {
				return err
			}
		}
		if opts.NoRecover {
			return nil
		}
		n, err := recoverLeases(tx, time.Now())
		ob.Recovered = n
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return ob, nil
}

// ready reports whether every bucket exists (a read transaction).
func (ob *Outbox) ready() bool {
	ok := true
	ob.db.View(func(tx *bolt.Tx) error {
		for _, b := range append(allBuckets, bFinal, bQueue) {
			if tx.Bucket(b) == nil {
				ok = false
			}
		}
		if tx.Bucket(bDue) != nil {
			ok = false
		}
		return nil
	})
	return ok
}

// RecoverLeases logs the attempts still leased as interrupted (not
// counted) and makes them due at once, and returns how many there were.
// Only call it when no Sender is running on the outbox: Run calls it when
// it starts.
func (ob *Outbox) RecoverLeases() (int, error) {
	var n int
	err := ob.update(func(tx *bolt.Tx) error {
		var err error
		n, err = recoverLeases(tx, time.Now())
		return err
	})
	return n, err
}

// Path returns the file path.
func (ob *Outbox) Path() string { return ob.path }

// Close closes the file. Leases still held are recovered by the next Open.
func (ob *Outbox) Close() error { return ob.db.Close() }

// indexFinal creates the final index of a file written before it existed.
func indexFinal(tx *bolt.Tx) error {
	fb, err := tx.CreateBucket(bFinal)
	if err != nil {
		return err
	}
	return tx.Bucket(bStates).ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, 0)
		if i <= 0 || !State(k[:i]).final() {
			return nil
		}
		d, err := getMeta(tx, k[i+1:])
		if err != nil {
			return nil // a dangling index entry; Purge skips it
		}
		return fb.Put(dueKey(d.UpdatedAt, d.ID), nil)
	})
}

// indexQueue creates the per-endpoint queue of a file written before it
// existed, from the global due index, which it then deletes.
func indexQueue(tx *bolt.Tx) error {
	qb, err := tx.CreateBucket(bQueue)
	if err != nil {
		return err
	}
	old := tx.Bucket(bDue)
	if old == nil {
		return nil
	}
	if err := old.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 {
			return nil
		}
		d, err := getMeta(tx, k[8:])
		if err != nil || d.State != StatePending {
			return nil // a dangling index entry
		}
		return qb.Put(queueKey(d.URL, d.NextAttempt, d.ID), nil)
	}); err != nil {
		return err
	}
	return tx.DeleteBucket(bDue)
}

func recoverLeases(tx *bolt.Tx, now time.Time) (int, error) {
	var ids [][]byte
	if err := tx.Bucket(bLeased).ForEach(func(k, _ []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return 0, err
	}
	for _, id := range ids {
		d, err := getMeta(tx, id)
		if err != nil {
			return 0, err
		}
		a := Attempt{N: d.Attempts, Start: d.UpdatedAt, Outcome: OutcomeInterrupted,
			Error: "attempt interrupted (process stopped); not counted"}
		if err := finish(tx, d, a, now); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
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
	var err error
	if ob.noBatch {
		err = ob.db.Update(fn)
	} else {
		c := &change{fn: fn, done: make(chan error, 1)}
		ob.gmu.Lock()
		ob.queue = append(ob.queue, c)
		if !ob.leading {
			ob.leading = true
			go ob.commitLoop()
		}
		ob.gmu.Unlock()
		err = <-c.done
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
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
		err := ob.db.Update(func(tx *bolt.Tx) error {
			for i, c := range group {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range group {
				c.done <- err
			}
			return
		}
		c := group[failed]
		group = append(group[:failed:failed], group[failed+1:]...)
		c.done <- ob.db.Update(c.fn)
	}
}

func (ob *Outbox) view(fn func(*bolt.Tx) error) error {
	err := ob.db.View(fn)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Enqueue durably stores pending deliveries, all or none, before returning.
func (ob *Outbox) Enqueue(ds ...*Delivery) error {
	for _, d := range ds {
		if err := d.Net.check(); err != nil {
			return fmt.Errorf("enqueue %s: %w", d.ID, err)
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
			if err := putMeta(tx, d); err != nil {
				return err
			}
			if err := tx.Bucket(bStates).Put(stateKey(d.State, d.ID), nil); err != nil {
				return err
			}
			if err := tx.Bucket(bQueue).Put(queueKey(d.URL, d.NextAttempt, d.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// errPayload is the LastError of a delivery failed because its payload
// could not be read.
const errPayload = "payload (body and secret) unreadable in the outbox (corrupt record); not attempted"

// candidate is a due queue entry a lease pass may take.
type candidate struct {
	at  time.Time
	key []byte
}

// lease takes up to max due deliveries (with body and secret), at most
// room(endpoint) per endpoint, oldest first, marks them leased and counts
// their attempt. next is the earliest due time, not yet reached, of an
// endpoint with room left (zero if none); broken are due deliveries whose
// payload could not be read, marked failed; more reports that due entries
// were dropped or failed instead of leased, so another pass may find more.
//
// The queue is read in a read transaction, one seek per endpoint: a
// saturated endpoint's backlog, however long, neither delays the others'
// deliveries nor holds the write lock. Only the chosen entries are written.
func (ob *Outbox) lease(now time.Time, max int, room func(endpoint string) int) (out []*Delivery, next time.Time, broken []*Delivery, more bool, err error) {
	var cands []candidate
	var drop [][]byte
	err = ob.view(func(tx *bolt.Tx) error {
		cands, drop, next = ob.scanQueue(tx, now, max, room)
		return nil
	})
	if err != nil || (len(cands) == 0 && len(drop) == 0) {
		return nil, next, nil, false, err
	}
	slices.SortFunc(cands, func(a, b candidate) int { return a.at.Compare(b.at) })
	if len(cands) > max {
		// The rest stay due; they are older than next, if any.
		if at := cands[max].at; next.IsZero() || at.Before(next) {
			next = at
		}
		cands = cands[:max]
	}
	err = ob.db.Update(func(tx *bolt.Tx) error {
		out, broken, more = out[:0], broken[:0], len(drop) > 0
		qb := tx.Bucket(bQueue)
		for _, k := range drop {
			if err := qb.Delete(k); err != nil {
				return err
			}
		}
		c := qb.Cursor()
		for _, cd := range cands {
			if k, _ := c.Seek(cd.key); !bytes.Equal(k, cd.key) {
				continue // gone since the scan
			}
			if err := qb.Delete(cd.key); err != nil {
				return err
			}
			id := cd.key[bytes.IndexByte(cd.key, 0)+9:]
			d, err := getMeta(tx, id)
			if err != nil || d.State != StatePending {
				more = true // a dangling index entry: nothing to deliver
				continue
			}
			if !payloadOK(tx, id) {
				// Nothing to send: fail it now rather than leave it
				// pending and out of the queue forever.
				a := Attempt{N: d.Attempts, Start: now, Outcome: OutcomeFailed, Error: errPayload}
				if err := finish(tx, d, a, now); err != nil {
					return err
				}
				broken, more = append(broken, d), true
				continue
			}
			if err := loadPayload(tx, d); err != nil {
				return err // checked above
			}
			d.Attempts++
			d.UpdatedAt = now
			d.NextAttempt = time.Time{}
			if err := putMeta(tx, d); err != nil {
				return err
			}
			if err := tx.Bucket(bLeased).Put([]byte(d.ID), nil); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return out, next, broken, more, err
}

// scanQueue returns, for each endpoint with room, up to min(room, max) of
// its due entries; malformed keys to drop; and the earliest due time not yet
// reached of an endpoint with room. It visits at most leaseScanLimit
// endpoints, starting after the last one the previous pass visited.
func (ob *Outbox) scanQueue(tx *bolt.Tx, now time.Time, max int, room func(string) int) (cands []candidate, drop [][]byte, next time.Time) {
	c := tx.Bucket(bQueue).Cursor()
	ob.rrMu.Lock()
	start := ob.rrNext
	ob.rrMu.Unlock()
	var k []byte
	if start != nil {
		k, _ = c.Seek(start)
	} else {
		k, _ = c.First()
	}
	wrapped := start == nil
	visited := 0
	var resume []byte
	for {
		if k == nil || (wrapped && start != nil && bytes.Compare(k, start) >= 0) {
			if wrapped {
				break
			}
			wrapped = true
			if k, _ = c.First(); k == nil {
				break
			}
			continue
		}
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k)-i-1 <= 8 {
			drop = append(drop, append([]byte(nil), k...))
			k, _ = c.Next()
			continue
		}
		if visited >= leaseScanLimit {
			resume = append([]byte(nil), k[:i+1]...)
			break
		}
		visited++
		ep := k[:i+1] // with the 0x00
		free := min(room(string(k[:i])), max)
		for taken := 0; k != nil && bytes.HasPrefix(k, ep) && taken < free; taken++ {
			if len(k) <= len(ep)+8 {
				drop = append(drop, append([]byte(nil), k...))
				k, _ = c.Next()
				continue
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k[len(ep):len(ep)+8])))
			if at.After(now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				break
			}
			cands = append(cands, candidate{at: at, key: append([]byte(nil), k...)})
			k, _ = c.Next()
		}
		// On to the next endpoint: one seek past this one's entries.
		k, _ = c.Seek(append(append([]byte(nil), k0(ep)...), 1))
	}
	ob.rrMu.Lock()
	ob.rrNext = resume
	ob.rrMu.Unlock()
	return cands, drop, next
}

// k0 returns the endpoint of a queue key prefix (endpoint 0x00).
func k0(ep []byte) []byte { return ep[:len(ep)-1] }

// complete records attempt a of the leased delivery d and releases the
// lease; a pending d is put back in the due index.
func (ob *Outbox) complete(d *Delivery, a Attempt, now time.Time) error {
	c := *d
	return ob.update(func(tx *bolt.Tx) error {
		dd := c // Batch may run fn twice
		if err := finish(tx, &dd, a, now); err != nil {
			return err
		}
		*d = dd
		return nil
	})
}

// finish applies a to the leased d inside tx.
func finish(tx *bolt.Tx, d *Delivery, a Attempt, now time.Time) error {
	old := d.State
	if a.Outcome == OutcomeInterrupted && d.Attempts > 0 {
		d.Attempts--
	}
	d.apply(a, now)
	if err := tx.Bucket(bLeased).Delete([]byte(d.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bLog).Put(logKey(d.ID, d.LogCount-1), mustJSON(a)); err != nil {
		return err
	}
	if old != d.State {
		if err := tx.Bucket(bStates).Delete(stateKey(old, d.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bStates).Put(stateKey(d.State, d.ID), nil); err != nil {
			return err
		}
	}
	if d.State == StatePending {
		if err := tx.Bucket(bQueue).Put(queueKey(d.URL, d.NextAttempt, d.ID), nil); err != nil {
			return err
		}
	} else if err := tx.Bucket(bFinal).Put(dueKey(d.UpdatedAt, d.ID), nil); err != nil {
		return err
	}
	return putMeta(tx, d)
}

// Get returns the delivery (with body and secret) and its attempt log.
func (ob *Outbox) Get(id string) (*Delivery, []Attempt, error) {
	var d *Delivery
	var log []Attempt
	err := ob.view(func(tx *bolt.Tx) error {
		var err error
		if d, err = getMeta(tx, []byte(id)); err != nil {
			return err
		}
		if err := loadPayload(tx, d); err != nil {
			return err
		}
		prefix := append([]byte(id), 0)
		c := tx.Bucket(bLog).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a Attempt
			if err := json.Unmarshal(v, &a); err != nil {
				return ErrInvalidFormat
			}
			log = append(log, a)
		}
		return nil
	})
	return d, log, err
}

// List returns up to limit deliveries (all if limit <= 0) in state, oldest
// first, without body or secret.
func (ob *Outbox) List(state State, limit int) ([]*Delivery, error) {
	var out []*Delivery
	err := ob.view(func(tx *bolt.Tx) error {
		prefix := append([]byte(state), 0)
		c := tx.Bucket(bStates).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			d, err := getMeta(tx, k[len(prefix):])
			if err != nil {
				return err
			}
			out = append(out, d)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Count returns how many deliveries are in each state.
func (ob *Outbox) Count() (map[State]int, error) {
	out := make(map[State]int, len(States))
	err := ob.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bStates).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i := bytes.IndexByte(k, 0); i > 0 {
				out[State(k[:i])]++
			}
		}
		return nil
	})
	return out, err
}

// Retry re-queues a failed or gone delivery with a fresh attempt budget,
// due at now.
func (ob *Outbox) Retry(id string, now time.Time) (*Delivery, error) {
	var d *Delivery
	err := ob.db.Update(func(tx *bolt.Tx) error {
		var err error
		if d, err = getMeta(tx, []byte(id)); err != nil {
			return err
		}
		if d.State != StateFailed && d.State != StateGone {
			return fmt.Errorf("%w (delivery %s is %s)", ErrNotRetryable, id, d.State)
		}
		if err := tx.Bucket(bStates).Delete(stateKey(d.State, d.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bFinal).Delete(dueKey(d.UpdatedAt, d.ID)); err != nil {
			return err
		}
		d.State, d.Attempts, d.NextAttempt, d.UpdatedAt = StatePending, 0, now, now
		if err := tx.Bucket(bStates).Put(stateKey(d.State, d.ID), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bQueue).Put(queueKey(d.URL, d.NextAttempt, d.ID), nil); err != nil {
			return err
		}
		return putMeta(tx, d)
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return d, err
}

// Purge deletes up to max deliveries (all if max <= 0) in a final state
// (delivered, failed or gone) that became final before cutoff, oldest
// first, with their payload and attempt log, in one transaction, and
// returns how many it deleted. Pending deliveries are never purged. A
// bounded max keeps the write lock short; call again while it returns max.
func (ob *Outbox) Purge(cutoff time.Time, max int) (int, error) {
	if !cutoff.After(time.Unix(0, 0)) {
		return 0, nil
	}
	n := 0
	// Not batched: a purge must not make concurrent enqueues wait for it.
	err := ob.db.Update(func(tx *bolt.Tx) error {
		limit := dueKey(cutoff, "")
		fb := tx.Bucket(bFinal)
		var victims [][]byte
		c := fb.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0 && (max <= 0 || len(victims) < max); k, _ = c.Next() {
			victims = append(victims, append([]byte(nil), k...))
		}
		for _, k := range victims {
			if err := fb.Delete(k); err != nil {
				return err
			}
			if len(k) <= 8 {
				continue
			}
			id := k[8:]
			d, err := getMeta(tx, id)
			if errors.Is(err, ErrNotFound) {
				continue // a dangling index entry
			}
			if err != nil {
				return err
			}
			if !d.State.final() {
				continue // retried since: not ours to delete
			}
			if err := deleteDelivery(tx, d); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	return n, err
}

// deleteDelivery removes d and everything that refers to it but the final
// index entry.
func deleteDelivery(tx *bolt.Tx, d *Delivery) error {
	id := []byte(d.ID)
	for _, del := range []struct {
		b []byte
		k []byte
	}{{bStates, stateKey(d.State, d.ID)}, {bDeliveries, id}, {bPayloads, id}, {bQueue, queueKey(d.URL, d.NextAttempt, d.ID)}, {bLeased, id}} {
		if err := tx.Bucket(del.b).Delete(del.k); err != nil {
			return err
		}
	}
	lb := tx.Bucket(bLog)
	lp := append(append([]byte(nil), id...), 0)
	var logs [][]byte
	c := lb.Cursor()
	for k, _ := c.Seek(lp); k != nil && bytes.HasPrefix(k, lp); k, _ = c.Next() {
		logs = append(logs, append([]byte(nil), k...))
	}
	for _, k := range logs {
		if err := lb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func getMeta(tx *bolt.Tx, id []byte) (*Delivery, error) {
	v := tx.Bucket(bDeliveries).Get(id)
	if v == nil {
		return nil, ErrNotFound
	}
	d := new(Delivery)
	if err := json.Unmarshal(v, d); err != nil {
		return nil, ErrInvalidFormat
	}
	return d, nil
}

func putMeta(tx *bolt.Tx, d *Delivery) error {
	return tx.Bucket(bDeliveries).Put([]byte(d.ID), mustJSON(d))
}

// payloadOK reports whether the payload of id is readable, without
// copying it.
func payloadOK(tx *bolt.Tx, id []byte) bool {
	v := tx.Bucket(bPayloads).Get(id)
	n, w := binary.Uvarint(v)
	return w > 0 && uint64(len(v)-w) >= n
}

func loadPayload(tx *bolt.Tx, d *Delivery) error {
	v := tx.Bucket(bPayloads).Get([]byte(d.ID))
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return ErrInvalidFormat
	}
	// Copy: bbolt memory is only valid inside the transaction.
	d.Secret = append([]byte(nil), v[w:w+int(n)]...)
	d.Body = append([]byte(nil), v[w+int(n):]...)
	return nil
}

func encodePayload(secret, body []byte) []byte {
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(secret)+len(body)), uint64(len(secret)))
	out = append(out, secret...)
	return append(out, body...)
}

func dueKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	var ns int64
	switch {
	case !t.After(time.Unix(0, 0)):
		// UnixNano is undefined before 1678: clamp.
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	binary.BigEndian.PutUint64(k, uint64(ns))
	return append(k, id...)
}

// queueKey is the queue key of a delivery to endpoint due at t.
func queueKey(endpoint string, t time.Time, id string) []byte {
	ep := endpointKey(endpoint)
	return append(append(append(make([]byte, 0, len(ep)+9+len(id)), ep...), 0), dueKey(t, id)...)
}

func stateKey(s State, id string) []byte {
	return append(append(append(make([]byte, 0, len(s)+1+len(id)), s...), 0), id...)
}

func logKey(id string, i int) []byte {
	k := append(append(make([]byte, 0, len(id)+5), id...), 0)
	return binary.BigEndian.AppendUint32(k, uint32(i))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled
	}
	return b
}
