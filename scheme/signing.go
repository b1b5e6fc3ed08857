package scheme

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"sync"

	"github.com/scgate/scgate/refusal"
)

// Ed25519 signatures of a scheme's signed content, and hex signature
// headers.

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
