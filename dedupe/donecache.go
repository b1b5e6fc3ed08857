package dedupe

import (
	"sync"
	"time"
)

// doneCache remembers digests of keys this gateway saw done, until a time
// no later than their expiry in Redis. Done is terminal until the TTL
// passes (a commit never turns back into a claim, a release refuses it), so
// a hit is the answer Redis would give, without the round trip.
//
// It holds at most its capacity: insertion order is kept in a ring, and a
// full cache forgets its oldest insertion. Keys share one TTL in practice,
// so the oldest insertion is also the one that expires first.
type doneCache struct {
	mu    sync.Mutex
	epoch time.Time          // monotonic origin of the expiry times
	exp   map[[16]byte]int64 // expiry, nanoseconds since epoch
	ring  [][16]byte         // insertion order; every entry of exp has a slot
	next  int                // the slot to reuse when the ring is full
}

func newDoneCache(capacity int) *doneCache {
	return &doneCache{
		epoch: time.Now(),
		exp:   make(map[[16]byte]int64, min(capacity, 4096)),
		ring:  make([][16]byte, 0, capacity),
	}
}

// has reports whether d is known done at now. A nil cache knows nothing.
func (c *doneCache) has(d *[16]byte, now time.Time) bool {
	if c == nil {
		return false
	}
	t := int64(now.Sub(c.epoch))
	c.mu.Lock()
	exp, ok := c.exp[*d]
	if ok && exp <= t {
		delete(c.exp, *d)
		ok = false
	}
	c.mu.Unlock()
	return ok
}

// add records d as done until until.
func (c *doneCache) add(d *[16]byte, until time.Time) {
	if c == nil {
		return
	}
	t := int64(until.Sub(c.epoch))
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.exp[*d]; ok {
		c.exp[*d] = max(old, t)
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, *d)
	} else {
		// A slot whose digest expired, or was re-added to a second slot,
		// may delete a newer entry early: a miss, never a wrong answer.
		delete(c.exp, c.ring[c.next])
		c.ring[c.next] = *d
		c.next = (c.next + 1) % len(c.ring)
	}
	c.exp[*d] = t
}

// len is the number of entries held, expired ones not yet dropped included.
func (c *doneCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.exp)
}
