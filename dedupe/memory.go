package dedupe

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the default bound of a MemoryStore.
const DefaultMaxKeys = 1_000_000

// MemoryStore is an in-process Store. It holds at most MaxKeys keys. When it
// is full, the oldest delivered keys make room for new claims (they are the
// least likely to be retried); a claim in flight is never evicted, and a new
// event is refused with ErrFull only when every key is a claim in flight.
//
// Keys are kept as 16-byte digests: a delivered key costs a map entry (the
// digest and its expiry) and an entry in the commit-ordered queue that
// eviction reads from the front, about 80 bytes in all.
type MemoryStore struct {
	// mu makes claim, commit and release atomic check-and-set operations.
	mu       sync.Mutex
	done     map[[16]byte]int64 // delivered keys: expiry in Unix nanoseconds
	inflight map[[16]byte]claimEntry
	order    commitQueue // delivered keys, oldest commit first
	maxKeys  atomic.Int64

	nextToken atomic.Uint64
	// commits counts keys recorded as done, so a snapshot writer can tell
	// whether anything changed since its last write.
	commits   atomic.Uint64
	evictions atomic.Uint64
	onEvict   atomic.Pointer[func(Eviction)]
	// lastSweep rate-limits the O(n) sweep of expired keys a store full of
	// claims in flight does before it refuses one, so a full store cannot be
	// made to sweep per request.
	lastSweep time.Time
	now       func() time.Time
}

// claimEntry is a claim in flight.
type claimEntry struct {
	tok     Token
	expires int64 // Unix nanoseconds
}

// Eviction describes a delivered key a full store dropped to make room.
type Eviction struct {
	// Age is how long ago the key was committed; zero when unknown (a key
	// restored from a snapshot of the first format).
	Age time.Duration
}

// NewMemoryStore returns a MemoryStore bounded to maxKeys (DefaultMaxKeys
// when maxKeys <= 0).
func NewMemoryStore(maxKeys int) *MemoryStore {
	s := &MemoryStore{
		done:     make(map[[16]byte]int64),
		inflight: make(map[[16]byte]claimEntry),
		now:      time.Now,
	}
	s.SetMaxKeys(maxKeys)
	return s
}

// SetClock makes now the store's clock (time.Now by default), for tests
// and simulations that move time themselves. Set it before the store is
// used.
func (s *MemoryStore) SetClock(now func() time.Time) { s.now = now }

// SetMaxKeys changes the bound; it applies to later claims. A config reload
// that keeps the store uses it to apply a new max_keys.
func (s *MemoryStore) SetMaxKeys(n int) {
	if n <= 0 {
		n = DefaultMaxKeys
	}
	s.maxKeys.Store(int64(n))
}

// OnEvict sets a function called (with the store locked: it must not call
// the store) for every delivered key evicted to make room.
func (s *MemoryStore) OnEvict(f func(Eviction)) { s.onEvict.Store(&f) }

// Len returns the number of keys held, including expired keys not yet
// dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.done) + len(s.inflight)
}

// Evictions returns how many delivered keys were evicted to make room.
func (s *MemoryStore) Evictions() uint64 { return s.evictions.Load() }

// digest maps a key to the 16 bytes the store is keyed by. A fixed, short
// key keeps memory per key small and independent of key length (fallback
// keys carry a 64-digit body hash); 128 bits of SHA-256 make a collision
// between two real events practically impossible.
func digest(key string) [16]byte {
	// Copy through a stack buffer: converting a key longer than 32 bytes
	// straight to []byte would allocate.
	var buf [256]byte
	var sum [sha256.Size]byte
	if len(key) <= len(buf) {
		sum = sha256.Sum256(append(buf[:0], key...))
	} else {
		sum = sha256.Sum256([]byte(key))
	}
	return [16]byte(sum[:16])
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key string, timeout time.Duration) (State, Token, error) {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch s.state(d, now.UnixNano()) {
	case Done:
		return Done, 0, nil
	case InFlight:
		return InFlight, 0, nil
	}
	if !s.makeRoom(now) {
		return 0, 0, ErrFull
	}
	tok := Token(s.nextToken.Add(1))
	s.inflight[d] = claimEntry{tok: tok, expires: now.Add(timeout).UnixNano()}
	return Claimed, tok, nil
}

// state reports what the store holds for d, dropping it if it expired;
// Claimed means nothing.
func (s *MemoryStore) state(d [16]byte, now int64) State {
	if c, ok := s.inflight[d]; ok {
		if c.expires > now {
			return InFlight
		}
		delete(s.inflight, d)
	}
	if exp, ok := s.done[d]; ok {
		if exp > now {
			return Done
		}
		delete(s.done, d)
	}
	return Claimed
}

// makeRoom reports whether a new key fits, evicting the oldest delivered
// key if the store is full.
func (s *MemoryStore) makeRoom(now time.Time) bool {
	max := s.maxKeys.Load()
	for int64(len(s.done)+len(s.inflight)) >= max {
		if s.evictOldest(now) {
			continue
		}
		// Every key is a claim in flight (or an expired key the queue
		// does not reach): drop expired ones, at most once a second.
		if now.Sub(s.lastSweep) < time.Second {
			return false
		}
		s.lastSweep = now
		s.sweep(now.UnixNano())
		if int64(len(s.done)+len(s.inflight)) >= max {
			return false
		}
	}
	return true
}

// evictOldest drops the oldest delivered key (expired ones it meets on the
// way are dropped without counting) and reports whether a key went.
func (s *MemoryStore) evictOldest(now time.Time) bool {
	for {
		e, ok := s.order.front()
		if !ok {
			return false
		}
		s.order.pop()
		exp, held := s.done[e.digest]
		if !held || exp != e.expires {
			continue // gone already, or committed again later
		}
		delete(s.done, e.digest)
		if exp <= now.UnixNano() {
			continue // expired: no eviction
		}
		s.evictions.Add(1)
		if f := s.onEvict.Load(); f != nil {
			var age time.Duration
			if e.committed != 0 {
				age = time.Duration(now.UnixNano() - e.committed)
			}
			(*f)(Eviction{Age: age})
		}
		return true
	}
}

// sweep drops every expired key.
func (s *MemoryStore) sweep(now int64) {
	for d, c := range s.inflight {
		if c.expires <= now {
			delete(s.inflight, d)
		}
	}
	for d, exp := range s.done {
		if exp <= now {
			delete(s.done, d)
		}
	}
}

// Commit implements Store.
func (s *MemoryStore) Commit(_ context.Context, key string, tok Token, ttl time.Duration) error {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var err error
	switch s.state(d, now.UnixNano()) {
	case Done:
		return nil
	case InFlight:
		// The upstream accepted the event, so it is delivered whoever holds
		// the claim now: a claim that took the key after this one lapsed is
		// overwritten and reported lost (its release then leaves the key
		// done, and later copies are duplicates instead of being forwarded
		// again once that copy fails), as the Redis store does.
		if s.inflight[d].tok != tok {
			err = ErrClaimLost
		}
		delete(s.inflight, d)
	}
	// A claim that lapsed with nobody taking the key over is recorded too:
	// the event was delivered.
	s.record(d, now.UnixNano(), now.Add(ttl).UnixNano())
	s.commits.Add(1)
	return err
}

// record stores d as delivered until expires, committed at committed (0:
// unknown), and drops a few expired keys from the front of the queue so
// that it does not outgrow the keys it orders.
func (s *MemoryStore) record(d [16]byte, committed, expires int64) {
	s.done[d] = expires
	s.order.push(queued{digest: d, committed: committed, expires: expires})
	now := s.now().UnixNano()
	for i := 0; i < 2; i++ {
		e, ok := s.order.front()
		if !ok || e.expires > now {
			return
		}
		s.order.pop()
		if exp, held := s.done[e.digest]; held && exp == e.expires {
			delete(s.done, e.digest)
		}
	}
}

// Commits returns how many keys were recorded as done since the store was
// made (restored snapshot keys not included).
func (s *MemoryStore) Commits() uint64 { return s.commits.Load() }

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, tok Token) error {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state(d, s.now().UnixNano()) {
	case Claimed:
		return nil
	case InFlight:
		if s.inflight[d].tok == tok {
			delete(s.inflight, d)
			return nil
		}
	}
	return ErrClaimLost
}

// Close implements Store: it drops the keys so their memory goes at once.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.done)
	clear(s.inflight)
	s.order = commitQueue{}
	return nil
}

// queued is a delivered key in commit order.
type queued struct {
	digest    [16]byte
	committed int64 // Unix nanoseconds; 0 when unknown
	expires   int64 // Unix nanoseconds, as in MemoryStore.done
}

// commitQueue is a FIFO ring of delivered keys that grows by doubling.
type commitQueue struct {
	buf        []queued
	head, size int
}

func (q *commitQueue) push(e queued) {
	if q.size == len(q.buf) {
		grown := make([]queued, max(2*len(q.buf), 64))
		n := copy(grown, q.buf[q.head:])
		copy(grown[n:], q.buf[:q.head])
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = e
	q.size++
}

func (q *commitQueue) front() (queued, bool) {
	if q.size == 0 {
		return queued{}, false
	}
	return q.buf[q.head], true
}

func (q *commitQueue) pop() {
	q.buf[q.head] = queued{}
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	if q.size == 0 {
		q.head = 0
	}
}
