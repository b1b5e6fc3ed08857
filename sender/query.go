package sender

import (
	"bytes"
	"encoding/json"
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
// first, with their headers but without body or secret.
func (ob *Outbox) List(state State, limit int) ([]*Delivery, error) {
	var out []*Delivery
	err := ob.view(func(tx *bolt.Tx) error {
		return inState(tx, state, func(d *Delivery) bool {
			// A corrupt record lists without headers; Get reports it.
			d.Headers, _ = decodeHeaders(getHeaders(tx, []byte(d.ID)))
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

// Stats counts a store's deliveries (an outbox's, an inbox's entries) by
// state and says when the oldest pending one was queued.
type Stats struct {
	// Entries counts the deliveries in each state.
	Entries map[State]int
	// OldestPending is when the pending delivery queued longest ago was
	// queued (enqueued, retried or replayed); zero when none is pending.
	// For an inbox its age is the alert for "the application is down".
	OldestPending time.Time
}

// Stats reads the deliveries by state (one key per delivery) and the
// oldest pending one.
func (ob *Outbox) Stats() (Stats, error) {
	n, err := ob.Count()
	if err != nil {
		return Stats{}, err
	}
	oldest, err := ob.OldestPending()
	return Stats{Entries: n, OldestPending: oldest}, err
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
		lineBacklog(tx, func(id []byte) {
			if d, err := getMeta(tx, id); err == nil {
				add(tx, endpointKey(d.URL), id)
			}
		})
		return tx.Bucket(bLeased).ForEach(func(id, _ []byte) error {
			if d, err := getMeta(tx, id); err == nil {
				add(tx, endpointKey(d.URL), id)
			}
			return nil
		})
	})
	return out, err
}

// OldestPending returns when the pending delivery queued longest ago was
// queued (Delivery.Queued: enqueued, retried or replayed), zero if none is
// pending. It reads the pending deliveries in id order, which is creation
// order (UUIDv7), and stops at the first one created at or after the
// earliest queue time found: a delivery is never queued before it was
// created, nor created before one whose id is older (its clock does not go
// back). So it reads one record unless deliveries retried or replayed are
// older than the oldest one never retried.
func (ob *Outbox) OldestPending() (time.Time, error) {
	var oldest time.Time
	err := ob.view(func(tx *bolt.Tx) error {
		prefix := append([]byte(StatePending), 0)
		c := tx.Bucket(bStates).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			d, err := getMeta(tx, k[len(prefix):])
			if err != nil {
				continue // a dangling index entry
			}
			if !oldest.IsZero() && !d.CreatedAt.Before(oldest) {
				break
			}
			if q := d.Queued(); oldest.IsZero() || q.Before(oldest) {
				oldest = q
			}
		}
		return nil
	})
	return oldest, err
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
