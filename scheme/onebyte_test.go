package scheme_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/scheme"
)

// fuzzOneByte is the property every scheme's fuzz target checks: a
// request signed by sign (as of now) with one byte changed, of its body or
// of one of its signed headers, never verifies. hexHeader names the
// header whose value is hex, where a digit's case is not a change.
func fuzzOneByte(f *testing.F, s scheme.Scheme, now time.Time, sign func(t testing.TB, body []byte) http.Header,
	headers []string, hexHeader string, seeds ...string) {
	for i, seed := range seeds {
		for part := range len(headers) + 1 {
			f.Add([]byte(seed), uint8(part), uint16(3*i+part), byte(1<<(i%8)))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, part uint8, pos uint16, xor byte) {
		h := sign(t, body)
		body = bytes.Clone(body)
		if !changeOneByte(h, body, headers, hexHeader, part, pos, xor) {
			return
		}
		if idx, rf := s.Verify(scheme.Request{Header: h, Body: body, Now: now}); rf == nil {
			t.Fatalf("a changed request verifies (secret %d): %v %q", idx, h, body)
		}
	})
}

// changeOneByte changes one byte of a signed request in place: of its body
// (part 0) or of the value of headers[part-1]. It reports false when there
// is no change: nothing to change, a zero xor, or a hex digit's case in
// hexHeader.
func changeOneByte(h http.Header, body []byte, headers []string, hexHeader string, part uint8, pos uint16, xor byte) bool {
	if xor == 0 {
		return false
	}
	n := int(part) % (len(headers) + 1)
	if n == 0 {
		if len(body) == 0 {
			return false
		}
		body[int(pos)%len(body)] ^= xor
		return true
	}
	name := headers[n-1]
	v := []byte(h.Get(name))
	if len(v) == 0 {
		return false
	}
	i := int(pos) % len(v)
	if name == hexHeader && v[i] >= 'a' && v[i] <= 'f' && xor == 0x20 {
		return false
	}
	v[i] ^= xor
	h.Set(name, string(v))
	return true
}
