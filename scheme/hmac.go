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
	// head holds the header values signed before a body (sumAfter): a
	// string made a []byte for Write would allocate.
	head []byte
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

// sumAfter writes into out the HMAC under secret i of the parts of head,
// then body: the signed content of the schemes that put a few header
// values before the body (Standard Webhooks, Slack).
func (k *hmacKeys) sumAfter(i int, out *[sha256.Size]byte, body []byte, head ...string) {
	st := k.pools[i].Get().(*hmacState)
	st.head = st.head[:0]
	for _, p := range head {
		st.head = append(st.head, p...)
	}
	st.h.Reset()
	st.h.Write(st.head)
	st.h.Write(body)
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
