package sender

import (
	"bytes"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// leaseScanLimit bounds how many endpoints one lease pass looks at; the
// next pass goes on from where it stopped. An endpoint's backlog costs a
// pass one seek, however long it is.
const leaseScanLimit = 4096

// errPayload is the LastError of a delivery failed because its payload
// could not be read.
const errPayload = "payload (body, secret or headers) unreadable in the outbox (corrupt record); not attempted"

// leaseBatch is what one lease pass took.
type leaseBatch struct {
	// leased are the due deliveries taken, with body and secret, their
	// attempt counted and their lease on disk.
	leased []*Delivery
	// broken are due deliveries whose payload could not be read: marked
	// failed instead of leased.
	broken []*Delivery
	// next is the earliest due time, not yet reached, of an endpoint with
	// room left; zero if there is none.
	next time.Time
	// more reports that due entries were dropped or failed instead of
	// leased, so another pass at once may find more.
	more bool
}

// candidate is a due queue entry a lease pass may take.
type candidate struct {
	at  time.Time
	key []byte
}

// lease takes up to max due deliveries, at most room(endpoint) per
// endpoint, oldest first, and marks them leased.
//
// The queue is read in a read transaction, one seek per endpoint: a
// saturated endpoint's backlog, however long, neither delays the others'
// deliveries nor holds the write lock. Only the chosen entries are written.
func (ob *Outbox) lease(now time.Time, max int, room func(endpoint string) int) (leaseBatch, error) {
	var b leaseBatch
	var cands []candidate
	var drop [][]byte
	err := ob.view(func(tx *bolt.Tx) error {
		cands, drop, b.next = ob.scanQueue(tx, now, max, room)
		return nil
	})
	if err != nil || (len(cands) == 0 && len(drop) == 0) {
		return b, err
	}
	slices.SortFunc(cands, func(a, b candidate) int { return a.at.Compare(b.at) })
	if len(cands) > max {
		// The rest stay due; they are older than next, if any.
		if at := cands[max].at; b.next.IsZero() || at.Before(b.next) {
			b.next = at
		}
		cands = cands[:max]
	}
	err = ob.updateAlone(func(tx *bolt.Tx) error {
		b.leased, b.broken, b.more = b.leased[:0], b.broken[:0], len(drop) > 0
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
			_, tk, _ := splitQueueKey(cd.key)
			id := tk[8:]
			d, err := getMeta(tx, id)
			if err != nil || d.State != StatePending {
				b.more = true // a dangling index entry: nothing to deliver
				continue
			}
			if !payloadOK(tx, id) {
				// Nothing to send: fail it now rather than leave it
				// pending and out of the queue forever.
				a := Attempt{N: d.Number(), Start: now, Outcome: OutcomeFailed, Error: errPayload}
				if err := finish(tx, d, a, now); err != nil {
					return err
				}
				b.broken, b.more = append(b.broken, d), true
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
			b.leased = append(b.leased, d)
		}
		return nil
	})
	return b, err
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
		ep, _, ok := splitQueueKey(k)
		if !ok {
			drop = append(drop, bytes.Clone(k))
			k, _ = c.Next()
			continue
		}
		if visited >= leaseScanLimit {
			resume = bytes.Clone(ep)
			break
		}
		visited++
		free := min(room(string(ep[:len(ep)-1])), max)
		for taken := 0; k != nil && bytes.HasPrefix(k, ep) && taken < free; taken++ {
			_, tk, ok := splitQueueKey(k)
			if !ok {
				drop = append(drop, bytes.Clone(k))
				k, _ = c.Next()
				continue
			}
			at := keyTime(tk)
			if at.After(now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				break
			}
			cands = append(cands, candidate{at: at, key: bytes.Clone(k)})
			k, _ = c.Next()
		}
		// On to the next endpoint: one seek past this one's entries
		// (endpoint 0x01 sorts after every endpoint 0x00 ... key).
		k, _ = c.Seek(append(bytes.Clone(ep[:len(ep)-1]), 1))
	}
	ob.rrMu.Lock()
	ob.rrNext = resume
	ob.rrMu.Unlock()
	return cands, drop, next
}

// complete records attempt a of the leased delivery d and releases the
// lease; a pending d is put back in the queue.
func (ob *Outbox) complete(d *Delivery, a Attempt, now time.Time) error {
	c := *d
	return ob.update(func(tx *bolt.Tx) error {
		dd := c // a grouped change may run twice
		if err := finish(tx, &dd, a, now); err != nil {
			return err
		}
		*d = dd
		return nil
	})
}

// finish applies a to the leased d inside tx: the state machine
// (Delivery.apply), the attempt log and every index.
func finish(tx *bolt.Tx, d *Delivery, a Attempt, now time.Time) error {
	old := d.State
	d.Apply(a, now)
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
		// Still the first of its line, if it has one: back in the queue.
		if err := tx.Bucket(bQueue).Put(queueKey(d.URL, d.NextAttempt, d.ID), nil); err != nil {
			return err
		}
	} else {
		if err := tx.Bucket(bFinal).Put(timeKey(d.UpdatedAt, d.ID), nil); err != nil {
			return err
		}
		if d.OrderKey != "" {
			if err := leaveLine(tx, d); err != nil {
				return err
			}
		}
	}
	return putMeta(tx, d)
}
