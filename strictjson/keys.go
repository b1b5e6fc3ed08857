package strictjson

import (
	"bytes"
)

// keySet finds a repeated key in one object. Objects of up to len(small)
// members cost no allocation: keys are compared in place (by length first),
// escaped ones after decoding. Larger objects use a map of decoded keys.
type keySet struct {
	n     int
	small [32]keySpan
	big   map[string]struct{}
}

// keySpan is where a key's contents (between the quotes) lie in the body.
type keySpan struct {
	start, end int32
	escaped    bool
}

// maxKeyDecode bounds the stack buffer a key is decoded into for comparing.
const maxKeyDecode = 256

// add records the key data[start:end] and refuses it if the object already
// has it (ErrDuplicateKey) or if it holds a lone surrogate escape, which
// libraries decode differently (ErrAmbiguousKey).
func (s *keySet) add(data []byte, start, end int, escaped bool) error {
	k := keySpan{start: int32(start), end: int32(end), escaped: escaped}
	if escaped {
		var buf [maxKeyDecode]byte
		if _, ok := Unescape(buf[:0], data[start:end]); !ok {
			return ErrAmbiguousKey
		}
	}
	if s.big != nil {
		return s.addBig(data, k)
	}
	for _, old := range s.small[:s.n] {
		// Keys of different lengths differ unless an escape is involved.
		if (old.end-old.start == k.end-k.start || old.escaped || k.escaped) && sameKey(data, old, k) {
			return ErrDuplicateKey
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = k
		s.n++
		return nil
	}
	s.big = make(map[string]struct{}, 2*len(s.small))
	for _, old := range s.small {
		s.big[decoded(data, old)] = struct{}{}
	}
	return s.addBig(data, k)
}

func (s *keySet) addBig(data []byte, k keySpan) error {
	key := decoded(data, k)
	if _, dup := s.big[key]; dup {
		return ErrDuplicateKey
	}
	s.big[key] = struct{}{}
	return nil
}

// sameKey reports whether two keys decode to the same string.
func sameKey(data []byte, a, b keySpan) bool {
	ra, rb := data[a.start:a.end], data[b.start:b.end]
	if !a.escaped && !b.escaped {
		return bytes.Equal(ra, rb)
	}
	var ba, bb [maxKeyDecode]byte
	da, _ := Unescape(ba[:0], ra)
	db, _ := Unescape(bb[:0], rb)
	return bytes.Equal(da, db)
}

// decoded returns a key's decoded contents.
func decoded(data []byte, k keySpan) string {
	raw := data[k.start:k.end]
	if !k.escaped {
		return string(raw)
	}
	d, _ := Unescape(nil, raw)
	return string(d)
}
