package dedupe

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
)

// DefaultMaxKeys is the default bound of a MemoryStore.
const DefaultMaxKeys = 1_000_000

// doneMarker is the value of a committed key. It has no size, so storing it
// in the cache's interface value allocates nothing.
type doneMarker struct{}

// MemoryStore is an in-process Store on github.com/patrickmn/go-cache. It
// holds at most MaxKeys keys: when full (after dropping expired ones), Claim
// fails with ErrFull rather than growing without bound.
type MemoryStore struct {
	// mu makes claim, commit and release atomic check-and-set operations;
	// go-cache locks each call but offers no compare-and-swap.
	mu        sync.Mutex
	c         *cache.Cache
	maxKeys   atomic.Int64
	nextToken atomic.Uint64
	// commits counts keys recorded as done, so a snapshot writer can tell
	// whether anything changed since its last write.
	commits atomic.Uint64
	// lastSweep rate-limits the O(n) sweep a full store does before it
	// refuses a claim, so a full store cannot be made to sweep per request.
	lastSweep time.Time
	now       func() time.Time
}

// NewMemoryStore returns a MemoryStore bounded to maxKeys (DefaultMaxKeys
// when maxKeys <= 0). Expired keys are swept every minute.
func NewMemoryStore(maxKeys int) *MemoryStore {
	s := &MemoryStore{c: cache.New(cache.NoExpiration, time.Minute), now: time.Now}
	s.SetMaxKeys(maxKeys)
	return s
}

// SetMaxKeys changes the bound; it applies to later claims. A config reload
// that keeps the store uses it to apply a new max_keys.
func (s *MemoryStore) SetMaxKeys(n int) {
	if n <= 0 {
		n = DefaultMaxKeys
	}
	s.maxKeys.Store(int64(n))
}

// Len returns the number of keys held, including expired keys not yet swept.
func (s *MemoryStore) Len() int { return s.c.ItemCount() }

// digest maps a key to the 16 bytes the cache is keyed by. A fixed, short
// key keeps memory per key small and independent of key length (fallback
// keys carry a 64-digit body hash); 128 bits of SHA-256 make a collision
// between two real events practically impossible. Lookups convert it to a
// string in place (no allocation); only an insert allocates the key.
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

// inflight is the value of a claimed key. It keeps the cache key string so
// that Commit can store the done marker without allocating a new key.
type inflight struct {
	key string
	tok Token
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key string, timeout time.Duration) (State, Token, error) {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.c.Get(string(d[:])); ok {
		if _, done := v.(doneMarker); done {
			return Done, 0, nil
		}
		return InFlight, 0, nil
	}
	if max := s.maxKeys.Load(); int64(s.c.ItemCount()) >= max {
		if now := s.now(); now.Sub(s.lastSweep) >= time.Second {
			s.lastSweep = now
			s.c.DeleteExpired()
		}
		if int64(s.c.ItemCount()) >= max {
			return 0, 0, ErrFull
		}
	}
	e := &inflight{key: string(d[:]), tok: Token(s.nextToken.Add(1))}
	s.c.Set(e.key, e, timeout)
	return Claimed, e.tok, nil
}

// Commit implements Store.
func (s *MemoryStore) Commit(_ context.Context, key string, tok Token, ttl time.Duration) error {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.c.Get(string(d[:]))
	if !ok {
		// The claim lapsed and nobody took the key: the event was still
		// delivered, so remember it.
		s.c.Set(string(d[:]), doneMarker{}, ttl)
		s.commits.Add(1)
		return nil
	}
	switch e := v.(type) {
	case doneMarker:
		return nil
	case *inflight:
		if e.tok != tok {
			return ErrClaimLost
		}
		s.c.Set(e.key, doneMarker{}, ttl)
		s.commits.Add(1)
	}
	return nil
}

// Commits returns how many keys were recorded as done since the store was
// made (restored snapshot keys not included).
func (s *MemoryStore) Commits() uint64 { return s.commits.Load() }

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, tok Token) error {
	d := digest(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.c.Get(string(d[:]))
	if !ok {
		return nil
	}
	if e, isClaim := v.(*inflight); !isClaim || e.tok != tok {
		return ErrClaimLost
	}
	s.c.Delete(string(d[:]))
	return nil
}

// Close implements Store. The cache's sweeper stops when the store is
// garbage collected; Close drops the keys so their memory goes at once.
func (s *MemoryStore) Close() error {
	s.c.Flush()
	return nil
}

// digestKey is digest as a string.
func digestKey(key string) string {
	d := digest(key)
	return string(d[:])
}
