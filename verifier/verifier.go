// Package verifier signs and verifies ScreenshotCenter webhook signatures.
//
// A signature header carries one or more values of the form
// "sha256=<hex>", where <hex> is HMAC-SHA256(secret, raw body). The MAC is
// always computed over the exact bytes received: never over a re-serialized
// body, which is the bug in the vendor's own Express example.
package verifier

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Prefix is the scheme prefix of every signature value.
const Prefix = "sha256="

// MaxSignatureValues bounds how many sha256= values one request may carry,
// so that a hostile header cannot make verification cost unbounded CPU.
const MaxSignatureValues = 8

var (
	// ErrNoSignature means no signature header value was present.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformedSignature means a header was present but carried no
	// well-formed sha256=<64 hex digits> value.
	ErrMalformedSignature = errors.New("malformed signature")
	// ErrMismatch means the signature was well formed but no secret matched.
	ErrMismatch = errors.New("signature mismatch")
	// ErrNoSecrets means the verifier was built without any secret.
	ErrNoSecrets = errors.New("no secrets configured")
	// ErrWeakSecret is what every refusal of CheckSecret matches
	// (errors.Is): an empty, blank or short secret.
	ErrWeakSecret = errors.New("weak secret")
)

// MinSecretLength is the length, in bytes, below which a secret is
// refused: a short secret can be guessed offline from one captured signed
// event.
const MinSecretLength = 16

// CheckSecret refuses a secret that is empty, only whitespace, or shorter
// than MinSecretLength bytes: the one rule for shared HMAC secrets, which
// New, the sender, every config and the CLI apply. Its errors match
// ErrWeakSecret, say why, never the value or its length, and read after
// the name of the secret ("secret 0 is shorter than…").
func CheckSecret(v []byte) error {
	switch {
	case len(v) == 0:
		return weakSecret("is empty")
	case len(bytes.TrimSpace(v)) == 0:
		return weakSecret("is only whitespace: use a long random secret, e.g. from openssl rand -hex 32")
	case len(v) < MinSecretLength:
		return weakSecret(fmt.Sprintf("is shorter than %d bytes: use a long random secret, e.g. from openssl rand -hex 32", MinSecretLength))
	}
	return nil
}

// weakSecret is a refusal of CheckSecret.
type weakSecret string

func (e weakSecret) Error() string        { return string(e) }
func (e weakSecret) Is(target error) bool { return target == ErrWeakSecret }

// Sign returns the signature header value for body: "sha256=" followed by
// the lowercase hex HMAC-SHA256 of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	var sum [sha256.Size]byte
	out := make([]byte, len(Prefix)+hex.EncodedLen(sha256.Size))
	copy(out, Prefix)
	hex.Encode(out[len(Prefix):], m.Sum(sum[:0]))
	return string(out)
}

// macState is a pooled HMAC with its output buffer, so that neither escapes
// to the heap per verification.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// Verifier checks signatures against a fixed list of secrets. It is safe for
// concurrent use; HMAC states are pooled per secret so that a verification
// allocates nothing.
type Verifier struct {
	pools []sync.Pool
}

// New builds a Verifier for secrets. Any one of them may match, which is how
// a secret is rotated: configure the new one next to the old one, switch the
// sender, then remove the old one.
func New(secrets [][]byte) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	v := &Verifier{pools: make([]sync.Pool, len(secrets))}
	for i, s := range secrets {
		if err := CheckSecret(s); err != nil {
			return nil, fmt.Errorf("secret %d %w", i, err)
		}
		key := append([]byte(nil), s...)
		v.pools[i].New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	}
	return v, nil
}

// Sign returns the signature header value of body under the secret at
// index (as Verify returns it), like the package's Sign.
func (v *Verifier) Sign(index int, body []byte) string {
	st := v.pools[index].Get().(*macState)
	defer v.pools[index].Put(st)
	st.h.Reset()
	st.h.Write(body)
	mac := st.h.Sum(st.sum[:0])
	out := make([]byte, len(Prefix)+hex.EncodedLen(sha256.Size))
	copy(out, Prefix)
	hex.Encode(out[len(Prefix):], mac)
	return string(out)
}

// Secrets returns how many secrets the verifier holds.
func (v *Verifier) Secrets() int { return len(v.pools) }

// Verify checks body against the signature header values in headers (each
// element is one header line; a line may hold several values separated by
// commas or spaces). It returns the index of the first secret that matched.
//
// Errors are ErrNoSignature, ErrMalformedSignature or ErrMismatch. Values
// with another scheme than sha256= are ignored; a header with no usable
// value is malformed. Every comparison is constant time on the MAC bytes.
func (v *Verifier) Verify(body []byte, headers []string) (int, error) {
	var sigs [MaxSignatureValues][sha256.Size]byte
	n, seen, err := parseValues(headers, &sigs)
	if err != nil {
		return -1, err
	}
	if n == 0 {
		if seen {
			return -1, ErrMalformedSignature
		}
		return -1, ErrNoSignature
	}
	for i := range v.pools {
		st := v.pools[i].Get().(*macState)
		st.h.Reset()
		st.h.Write(body)
		mac := st.h.Sum(st.sum[:0])
		ok := false
		// Compare against every value, without an early exit, so timing
		// does not tell which of the candidate values came close.
		for j := 0; j < n; j++ {
			if hmac.Equal(mac, sigs[j][:]) {
				ok = true
			}
		}
		v.pools[i].Put(st)
		if ok {
			return i, nil
		}
	}
	return -1, ErrMismatch
}

// parseValues decodes every well-formed sha256= value into sigs. seen reports
// whether any non-blank header content was present at all.
func parseValues(headers []string, sigs *[MaxSignatureValues][sha256.Size]byte) (n int, seen bool, err error) {
	for _, h := range headers {
		for len(h) > 0 {
			// skip separators
			i := 0
			for i < len(h) && isSep(h[i]) {
				i++
			}
			h = h[i:]
			if h == "" {
				break
			}
			j := 0
			for j < len(h) && !isSep(h[j]) {
				j++
			}
			item := h[:j]
			h = h[j:]
			seen = true
			if len(item) < len(Prefix) || !equalFoldASCII(item[:len(Prefix)], Prefix) {
				continue // another scheme; not ours to judge
			}
			hexPart := item[len(Prefix):]
			if len(hexPart) != hex.EncodedLen(sha256.Size) {
				return 0, true, ErrMalformedSignature
			}
			if n == MaxSignatureValues {
				return 0, true, ErrMalformedSignature
			}
			if !decodeHex(sigs[n][:], hexPart) {
				return 0, true, ErrMalformedSignature
			}
			n++
		}
	}
	return n, seen, nil
}

func isSep(c byte) bool { return c == ',' || c == ' ' || c == '\t' }

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// decodeHex decodes src (either case) into dst, which is exactly half as
// long. It works on a string so that no copy of the header is made.
func decodeHex(dst []byte, src string) bool {
	for i := range dst {
		hi, ok1 := fromHex(src[2*i])
		lo, ok2 := fromHex(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
