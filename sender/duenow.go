package sender

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Delivering a pending delivery now, by hand: once a destination is back
// from an outage, its pending deliveries would wait for their next
// attempt, up to the last backoff delay. DueNow makes one due at once,
// DueAllNow every one waiting for a retry. Nothing is copied and nothing
// is reset: the attempt budget and the log go on, the next attempt has
// the next number. Only the queue moves, so the rest holds: a delivery in
// an attempt is left alone, one waiting in its order key's line behind an
// earlier delivery stays behind it (it is due as soon as it is the
// first), and the lease pass starts attempts within the concurrency
// bounds and the rate ceiling as ever.

// Errors of DueNow.
var (
	// ErrNotPending is returned for a delivery that is not pending:
	// replay or retry a final one instead.
	ErrNotPending = errors.New("only pending deliveries can be delivered now")
	// ErrHeldBack is returned for a delivery waiting behind an earlier
	// delivery of its order key: that one must settle first.
	ErrHeldBack = errors.New("the delivery waits behind an earlier delivery of its order key (deliver that one now instead)")
)

// DueNow makes the pending delivery id due at now if its next attempt is
// later, and returns it. A delivery in an attempt, or due already, is
// returned as it is; one held back by its order key fails with
// ErrHeldBack.
func (ob *Outbox) DueNow(id string, now time.Time) (*Delivery, error) {
	var d *Delivery
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var err error
		if d, err = getMeta(tx, []byte(id)); err != nil {
			return err
		}
		if d.State != StatePending {
			return &StateError{Err: ErrNotPending, ID: d.ID, State: d.State}
		}
		if has(tx.Bucket(bLeased), []byte(d.ID)) {
			return nil // in an attempt now
		}
		k := queueKey(d.URL, d.NextAttempt, d.ID)
		if !has(tx.Bucket(bQueue), k) {
			return &StateError{Err: ErrHeldBack, ID: d.ID, State: d.State}
		}
		if !d.NextAttempt.After(now) {
			return nil
		}
		return dueAt(tx, d, k, now)
	})
	return d, err
}

// DueAllNow makes every pending delivery whose next attempt is later than
// now due at now, in one transaction, and returns them oldest first.
// Deliveries in an attempt, due already or held back by their order key
// are left as they are.
func (ob *Outbox) DueAllNow(now time.Time) ([]*Delivery, error) {
	var out []*Delivery
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var later [][]byte
		c := tx.Bucket(bQueue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if _, tk, ok := splitQueueKey(k); ok && keyTime(tk).After(now) {
				later = append(later, bytes.Clone(k))
			}
		}
		// Not while iterating: dueAt moves the keys.
		for _, k := range later {
			_, tk, _ := splitQueueKey(k)
			d, err := getMeta(tx, tk[8:])
			if err != nil || d.State != StatePending {
				continue // a dangling queue entry: the lease pass drops it
			}
			if err := dueAt(tx, d, k, now); err != nil {
				return err
			}
			out = append(out, d)
		}
		slices.SortFunc(out, func(a, b *Delivery) int { return strings.Compare(a.ID, b.ID) })
		return nil
	})
	return out, err
}

// has reports whether b holds key k (whose value may be empty: Get does
// not tell an empty value put in the same transaction from none).
func has(b *bolt.Bucket, k []byte) bool {
	got, _ := b.Cursor().Seek(k)
	return bytes.Equal(got, k)
}

// dueAt moves the queued d, at queue key k, to be due at now.
func dueAt(tx *bolt.Tx, d *Delivery, k []byte, now time.Time) error {
	q := tx.Bucket(bQueue)
	if err := q.Delete(k); err != nil {
		return err
	}
	d.NextAttempt = now
	if err := q.Put(queueKey(d.URL, now, d.ID), nil); err != nil {
		return err
	}
	return putMeta(tx, d)
}

// DeliverNow makes the pending delivery id due now (Outbox.DueNow) and
// wakes Run.
func (s *Sender) DeliverNow(id string) (*Delivery, error) {
	d, err := s.ob.DueNow(id, s.now())
	if err == nil {
		s.Wake()
	}
	return d, err
}

// DeliverAllNow makes every pending delivery waiting for a later attempt
// due now (Outbox.DueAllNow) and wakes Run.
func (s *Sender) DeliverAllNow() ([]*Delivery, error) {
	ds, err := s.ob.DueAllNow(s.now())
	if err == nil && len(ds) > 0 {
		s.Wake()
	}
	return ds, err
}
