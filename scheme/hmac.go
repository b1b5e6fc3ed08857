package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"hash"
	"sync"
)

// hmacKeys holds a pool of HMAC-SHA256 states per secret, so that a
// verification builds no new HMAC.
type hmacKeys struct {
	pools []sync.Pool
}

type hmacState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newHMACKeys(secrets [][]byte) *hmacKeys {
	k := &hmacKeys{pools: make([]sync.Pool, len(secrets))}
	for i, s := range secrets {
		key := append([]byte(nil), s...)
		k.pools[i].New = func() any { return &hmacState{h: hmac.New(sha256.New, key)} }
	}
	return k
}

// sum writes into out the HMAC of the concatenated parts under secret i.
func (k *hmacKeys) sum(i int, out *[sha256.Size]byte, parts ...[]byte) {
	st := k.pools[i].Get().(*hmacState)
	st.h.Reset()
	for _, p := range parts {
		st.h.Write(p)
	}
	copy(out[:], st.h.Sum(st.sum[:0]))
	k.pools[i].Put(st)
}

// match returns the index of the first secret whose HMAC over the
// concatenated parts is one of sigs, or -1. Each secret's MAC is compared
// with every value, in constant time and without an early exit, so timing
// does not tell which value came close.
func (k *hmacKeys) match(sigs [][sha256.Size]byte, parts ...[]byte) int {
	var mac [sha256.Size]byte
	for i := range k.pools {
		k.sum(i, &mac, parts...)
		ok := 0
		for j := range sigs {
			ok |= subtle.ConstantTimeCompare(mac[:], sigs[j][:])
		}
		if ok == 1 {
			return i
		}
	}
	return -1
}
