package sender

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Queuing a final delivery again, by hand: Retry and RetryAll for failed
// and gone deliveries (the sender's admin API), Replay and ReplayAll for
// delivered ones too (the inbox). Each gives the delivery a fresh attempt
// budget, due at once; one with an order key joins the end of its line.

// Retry re-queues a failed or gone delivery with a fresh attempt budget,
// due at now.
func (ob *Outbox) Retry(id string, now time.Time) (*Delivery, error) {
	return ob.requeueOne(id, now, retryable)
}

// Replay queues a delivered, failed or gone delivery again, like Retry: a
// delivered one is sent once more.
func (ob *Outbox) Replay(id string, now time.Time) (*Delivery, error) {
	return ob.requeueOne(id, now, replayable)
}

// RetryAll re-queues, like Retry, every delivery in state (failed or gone)
// that became final at or after since (all of them for a zero since), in
// one transaction, and returns them oldest first.
func (ob *Outbox) RetryAll(state State, since, now time.Time) ([]*Delivery, error) {
	if err := retryable(state); err != nil {
		return nil, fmt.Errorf("%w (not %s)", err, state)
	}
	return ob.ReplayAll(state, since, time.Time{}, now)
}

// ReplayAll queues again, like Replay, every delivery in state (delivered,
// failed or gone) that became final at or after from and before to (a
// zero from or to leaves that end open), in one transaction, and returns
// them oldest first. Deliveries with an order key rejoin their lines in
// the order they had.
func (ob *Outbox) ReplayAll(state State, from, to, now time.Time) ([]*Delivery, error) {
	if err := replayable(state); err != nil {
		return nil, fmt.Errorf("%w (not %s)", err, state)
	}
	var out []*Delivery
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var picked []*Delivery
		seen := make(map[string]bool)
		end := timeKey(to, "")
		c := tx.Bucket(bFinal).Cursor()
		for k, _ := c.Seek(timeKey(from, "")); k != nil && (to.IsZero() || bytes.Compare(k, end) < 0); k, _ = c.Next() {
			if len(k) <= 8 || seen[string(k[8:])] {
				continue
			}
			d, err := getMeta(tx, k[8:])
			if err != nil || d.State != state {
				continue // a dangling index entry
			}
			seen[d.ID] = true
			picked = append(picked, d)
		}
		// Not while iterating: requeue moves the index keys. Each line
		// keeps its order: by the positions its deliveries had.
		slices.SortStableFunc(picked, func(a, b *Delivery) int { return cmp.Compare(a.OrderPos, b.OrderPos) })
		for _, d := range picked {
			if err := requeue(tx, d, now); err != nil {
				return err
			}
		}
		slices.SortFunc(picked, func(a, b *Delivery) int { return strings.Compare(a.ID, b.ID) })
		out = picked
		return nil
	})
	return out, err
}

// retryable admits failed and gone deliveries.
func retryable(s State) error {
	if s != StateFailed && s != StateGone {
		return ErrNotRetryable
	}
	return nil
}

// replayable admits every final delivery.
func replayable(s State) error {
	if !s.final() {
		return ErrNotReplayable
	}
	return nil
}

// requeueOne queues delivery id again if admit lets its state.
func (ob *Outbox) requeueOne(id string, now time.Time, admit func(State) error) (*Delivery, error) {
	var d *Delivery
	err := ob.updateAlone(func(tx *bolt.Tx) error {
		var err error
		if d, err = getMeta(tx, []byte(id)); err != nil {
			return err
		}
		if err := admit(d.State); err != nil {
			return &StateError{Err: err, ID: d.ID, State: d.State}
		}
		return requeue(tx, d, now)
	})
	return d, err
}

// requeue moves the final d back to pending, due at now, with a fresh
// attempt budget.
func requeue(tx *bolt.Tx, d *Delivery, now time.Time) error {
	if err := tx.Bucket(bStates).Delete(stateKey(d.State, d.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bFinal).Delete(timeKey(d.UpdatedAt, d.ID)); err != nil {
		return err
	}
	d.State, d.NextAttempt, d.UpdatedAt, d.QueuedAt = StatePending, now, now, now
	d.Earlier, d.Attempts = d.Earlier+d.Attempts, 0
	if err := tx.Bucket(bStates).Put(stateKey(d.State, d.ID), nil); err != nil {
		return err
	}
	if err := queue(tx, d); err != nil {
		return err
	}
	return putMeta(tx, d)
}
