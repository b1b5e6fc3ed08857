package scheme

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"sync"

	"github.com/scgate/scgate/refusal"
)

// The signed content of the schemes that put a few header values before
// the body, and their signatures: HMAC-SHA256 and Ed25519.

// macs computes HMAC-SHA256 under each of a scheme's shared secrets, with
// states pooled per secret so that a verification allocates nothing.
type macs struct {
	pools []sync.Pool // by secret index; a nil New: not a shared secret
}

type macState struct {
	h    hash.Hash
	head []byte
}

// newMACs makes the pools for keys, by secret index; a nil key has none.
func newMACs(keys [][]byte) *macs {
	m := &macs{pools: make([]sync.Pool, len(keys))}
	for i, k := range keys {
		if k == nil {
			continue
		}
		key := append([]byte(nil), k...)
		m.pools[i].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	}
	return m
}

// sum returns the HMAC under secret i of the parts of head, then body: the
// signed content of a scheme that puts a few header values before the body.
func (m *macs) sum(i int, body []byte, head ...string) [sha256.Size]byte {
	st := m.pools[i].Get().(*macState)
	st.head = st.head[:0]
	for _, p := range head {
		st.head = append(st.head, p...)
	}
	st.h.Reset()
	st.h.Write(st.head)
	st.h.Write(body)
	var sum [sha256.Size]byte
	st.h.Sum(sum[:0])
	m.pools[i].Put(st)
	return sum
}

// messages are pooled buffers for the signed content of an Ed25519
// signature, which must be one contiguous message.
var messages = sync.Pool{New: func() any { return new([]byte) }}

// message returns the parts of head, then body, in a pooled buffer; give
// it back with release.
func message(body []byte, head ...string) *[]byte {
	buf := messages.Get().(*[]byte)
	msg := (*buf)[:0]
	for _, p := range head {
		msg = append(msg, p...)
	}
	*buf = append(msg, body...)
	return buf
}

func release(msg *[]byte) { messages.Put(msg) }

// signEd25519 is priv's signature of the parts of head, then body.
func signEd25519(priv ed25519.PrivateKey, body []byte, head ...string) []byte {
	var msg []byte
	for _, p := range head {
		msg = append(msg, p...)
	}
	return ed25519.Sign(priv, append(msg, body...))
}

// hexSignature decodes the one line of a signature header, prefix then
// hex in either case (as the providers' libraries accept it), into all of
// dst (at most 64 bytes).
func hexSignature(lines []string, prefix string, dst []byte) *refusal.Refusal {
	if len(lines) == 0 {
		return ErrSigMissing
	}
	var text [2 * ed25519.SignatureSize]byte
	v, ok := strings.CutPrefix(lines[0], prefix)
	if len(lines) > 1 || !ok || len(v) != hex.EncodedLen(len(dst)) {
		return ErrSigMalformed
	}
	if _, err := hex.Decode(dst, text[:copy(text[:], v)]); err != nil {
		return ErrSigMalformed
	}
	return nil
}
