package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

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
	err := ob.updateAlone(func(tx *bolt.Tx) error {
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
	})
	return d, err
}
