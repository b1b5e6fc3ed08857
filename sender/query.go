package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

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
		prefix := logPrefix(id)
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
		return inState(tx, state, func(d *Delivery) bool {
			out = append(out, d)
			return limit <= 0 || len(out) < limit
		})
	})
	return out, err
}

// inState calls fn with each delivery in state, oldest first, while it
// returns true.
func inState(tx *bolt.Tx, state State, fn func(*Delivery) bool) error {
	prefix := append([]byte(state), 0)
	c := tx.Bucket(bStates).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		d, err := getMeta(tx, k[len(prefix):])
		if err != nil {
			return err
		}
		if !fn(d) {
			break
		}
	}
	return nil
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
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var err error
		if d, err = getMeta(tx, []byte(id)); err != nil {
			return err
		}
		return retry(tx, d, now)
	})
	return d, err
}

// RetryAll re-queues, like Retry, every delivery in state (failed or gone)
// that became final at or after since (all of them for a zero since), in
// one transaction, and returns them oldest first.
func (ob *Outbox) RetryAll(state State, since, now time.Time) ([]*Delivery, error) {
	if state != StateFailed && state != StateGone {
		return nil, fmt.Errorf("%w (not %s)", ErrNotRetryable, state)
	}
	var out []*Delivery
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var picked []*Delivery
		if err := inState(tx, state, func(d *Delivery) bool {
			if !d.UpdatedAt.Before(since) {
				picked = append(picked, d)
			}
			return true
		}); err != nil {
			return err
		}
		// Not while iterating: retry moves the state keys.
		for _, d := range picked {
			if err := retry(tx, d, now); err != nil {
				return err
			}
		}
		out = picked
		return nil
	})
	return out, err
}

// retry moves the failed or gone d back to pending, due at now, with a
// fresh attempt budget.
func retry(tx *bolt.Tx, d *Delivery, now time.Time) error {
	if d.State != StateFailed && d.State != StateGone {
		return fmt.Errorf("%w (delivery %s is %s)", ErrNotRetryable, d.ID, d.State)
	}
	if err := tx.Bucket(bStates).Delete(stateKey(d.State, d.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bFinal).Delete(timeKey(d.UpdatedAt, d.ID)); err != nil {
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
}

// Backlog is what waits for one endpoint.
type Backlog struct {
	// Pending is how many deliveries are pending, in an attempt or not.
	Pending int
	// Oldest is when the oldest of them was created.
	Oldest time.Time
}

// Backlogs returns the backlog of every endpoint (scheme://host) with
// pending deliveries. It reads keys only, one per pending delivery: a
// delivery's creation time is read from its id (a UUIDv7 holds it), or
// from its record for other ids.
func (ob *Outbox) Backlogs() (map[string]Backlog, error) {
	out := make(map[string]Backlog)
	add := func(tx *bolt.Tx, endpoint string, id []byte) {
		created, ok := idTime(id)
		if !ok {
			d, err := getMeta(tx, id)
			if err != nil {
				return // a dangling entry: nothing is pending
			}
			created = d.CreatedAt
		}
		b := out[endpoint]
		b.Pending++
		if b.Oldest.IsZero() || created.Before(b.Oldest) {
			b.Oldest = created
		}
		out[endpoint] = b
	}
	err := ob.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bQueue).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if ep, tk, ok := splitQueueKey(k); ok {
				add(tx, string(ep[:len(ep)-1]), tk[8:])
			}
		}
		return tx.Bucket(bLeased).ForEach(func(id, _ []byte) error {
			if d, err := getMeta(tx, id); err == nil {
				add(tx, endpointKey(d.URL), id)
			}
			return nil
		})
	})
	return out, err
}

// idTime returns the creation time held by a UUIDv7 id.
func idTime(id []byte) (time.Time, bool) {
	u, err := uuid.ParseBytes(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec), true
}
