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

// digestKey maps a key to the 16-byte string the cache holds. A fixed, short
// key keeps memory per key small and independent of key length (fallback
// keys carry a 64-digit body hash); 128 bits of SHA-256 make a collision
// between two real events practically impossible.
func digestKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return string(sum[:16])
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, key string, inflight time.Duration) (State, Token, error) {
	key = digestKey(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.c.Get(key); ok {
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
	tok := Token(s.nextToken.Add(1))
	s.c.Set(key, tok, inflight)
	return Claimed, tok, nil
}

// Commit implements Store.
func (s *MemoryStore) Commit(_ context.Context, key string, tok Token, ttl time.Duration) error {
	key = digestKey(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.c.Get(key); ok {
		if _, done := v.(doneMarker); done {
			return nil
		}
		if v.(Token) != tok {
			return ErrClaimLost
		}
	}
	s.c.Set(key, doneMarker{}, ttl)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, key string, tok Token) error {
	key = digestKey(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.c.Get(key)
	if !ok {
		return nil
	}
	if t, isTok := v.(Token); !isTok || t != tok {
		return ErrClaimLost
	}
	s.c.Delete(key)
	return nil
}

// Close implements Store. The cache's sweeper stops when the store is
// garbage collected; Close drops the keys so their memory goes at once.
func (s *MemoryStore) Close() error {
	s.c.Flush()
	return nil
}
