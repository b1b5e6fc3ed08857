package reencode

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"slices"

	"github.com/scgate/scgate/strictjson"
)

// member is the position in the output of one object member of an object
// that is still open: where its key starts and ends. The member ends where
// the next one starts (less the separator) or where the object closes.
type member struct {
	start, keyEnd int
}

// indexedMember is an array-index key (JS) and the member that holds it.
type indexedMember struct {
	index  uint32
	member int32
}

// object re-encodes the object at the scanner's position. Members are
// written as they come; when the object closes, closeObject rewrites it in
// place in the rare cases where the runtime would order its members
// differently.
func (e *encoder) object(depth int) error {
	open := len(e.out)
	if empty, err := e.openContainer(depth, '{', '}'); empty || err != nil {
		return err
	}
	first := len(e.members)
	// JS only: whether some array-index key comes after a non-index key or
	// after a larger index, so that JS would enumerate the keys in another
	// order than they were written.
	var sawName, reorder bool
	lastIndex := int64(-1)
	for {
		if e.s.Kind() != strictjson.String {
			return ErrInvalidJSON
		}
		start := len(e.out)
		if err := e.str(); err != nil {
			return err
		}
		if e.style == JS {
			if index, ok := arrayIndex(e.out[start:]); ok {
				reorder = reorder || sawName || int64(index) <= lastIndex
				lastIndex = int64(index)
			} else {
				sawName = true
			}
		}
		e.members = append(e.members, member{start: start, keyEnd: len(e.out)})
		if err := e.s.Colon(); err != nil {
			return err
		}
		e.out = append(e.out, e.colon...)
		if err := e.value(depth); err != nil {
			return err
		}
		// PHP refuses the key when it stores the member, after reading
		// the value (whose errors come first). The output writes U+0000
		// only as \u0000, so a key written with this prefix starts with
		// U+0000.
		if e.style == PHP && bytes.HasPrefix(e.out[start:], []byte(`"\u0000`)) {
			return ErrKeyStartsWithNUL
		}
		more, err := e.s.More('}')
		if err != nil {
			return err
		}
		if !more {
			break
		}
		e.out = append(e.out, e.item...)
	}
	e.out = append(e.out, '}')
	e.closeObject(open, e.members[first:], reorder)
	e.members = e.members[:first]
	return nil
}

// arrayIndex reports whether a key as written by JS (with its quotes) is an
// array index, a canonical decimal integer from 0 to 2^32-2, and returns it.
// JS enumerates those keys first, in ascending order, then the others in
// insertion order. The output never escapes digits, so the written key is
// the key.
func arrayIndex(key []byte) (uint32, bool) {
	d := key[1 : len(key)-1]
	if len(d) == 0 || len(d) > 10 || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	var v uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-2 {
		return 0, false
	}
	return uint32(v), true
}

// closeObject rewrites the just closed object that starts at out[open] when
// its members repeat a key or (reorder) JS enumerates them in another order.
// All three runtimes keep one member per key, with the last value, at the
// position of the first; JS then moves array-index keys to the front.
func (e *encoder) closeObject(open int, ms []member, reorder bool) {
	if len(ms) < 2 || (!reorder && !e.hasDuplicateKey(ms)) {
		return
	}
	closing := len(e.out) - 1
	order := e.memberOrder(ms)
	if e.infs > 0 && len(order) < len(ms) {
		e.forgetReplacedINFs(ms, order, closing)
	}
	if e.style == JS {
		order = e.indexKeysFirst(ms, order)
	}
	// Copy the members out and write them back in order. A member's bytes
	// include its value, which is already final (inner objects closed
	// before it).
	e.scratch = append(e.scratch[:0], e.out[open+1:closing]...)
	e.out = e.out[:open+1]
	for k, m := range order {
		if k > 0 {
			e.out = append(e.out, e.item...)
		}
		end := e.memberEnd(ms, int(m), closing)
		e.out = append(e.out, e.scratch[ms[m].start-open-1:end-open-1]...)
	}
	e.out = append(e.out, '}')
}

// memberEnd returns where member i of ms ends in the output; closing is the
// position of the object's closing brace.
func (e *encoder) memberEnd(ms []member, i, closing int) int {
	if i+1 < len(ms) {
		return ms[i+1].start - len(e.item)
	}
	return closing
}

// forgetReplacedINFs uncounts the PHP INF placeholders in the members that
// are not kept (not in order): PHP replaced their values before json_encode
// could fail on them.
func (e *encoder) forgetReplacedINFs(ms []member, order []int32, closing int) {
	kept := e.table[:len(ms)] // free again after dedupe, and large enough
	clear(kept)
	for _, m := range order {
		kept[m] = 1
	}
	for i := range ms {
		if kept[i] == 0 {
			e.infs -= bytes.Count(e.out[ms[i].keyEnd:e.memberEnd(ms, i, closing)], []byte{infPlaceholder})
		}
	}
}

func (e *encoder) key(m member) []byte { return e.out[m.start:m.keyEnd] }

// smallObject is the member count up to which keys are compared pairwise
// instead of through a hash table.
const smallObject = 16

// hasDuplicateKey reports whether two members have the same key. Equal keys
// are written identically, so comparing the output compares the keys.
func (e *encoder) hasDuplicateKey(ms []member) bool {
	if len(ms) > smallObject {
		return e.dedupe(ms)
	}
	for i := 1; i < len(ms); i++ {
		ki := e.key(ms[i])
		for j := 0; j < i; j++ {
			if ms[j].keyEnd-ms[j].start == len(ki) && bytes.Equal(e.key(ms[j]), ki) {
				return true
			}
		}
	}
	return false
}

// dedupe fills e.last: for the first member with a key, the index of the
// last member with that key; -1 for the later members with that key. It
// reports whether any key repeats.
func (e *encoder) dedupe(ms []member) bool {
	e.last = slices.Grow(e.last[:0], len(ms))[:len(ms)]
	size := 4
	for size < 2*len(ms) {
		size <<= 1
	}
	e.table = slices.Grow(e.table[:0], size)[:size]
	clear(e.table)
	mask := uint64(size - 1)
	dup := false
	for i := range ms {
		e.last[i] = int32(i)
		k := e.key(ms[i])
		for h := maphash.Bytes(e.seed, k) & mask; ; h = (h + 1) & mask {
			slot := e.table[h]
			if slot == 0 {
				e.table[h] = int32(i) + 1
				break
			}
			if f := slot - 1; bytes.Equal(e.key(ms[f]), k) {
				e.last[f], e.last[i] = int32(i), -1
				dup = true
				break
			}
		}
	}
	return dup
}

// memberOrder returns the members to write: one per key, in the order of
// the first members with each key, each the last member with that key.
func (e *encoder) memberOrder(ms []member) []int32 {
	e.order = e.order[:0]
	if !e.dedupe(ms) {
		for i := range ms {
			e.order = append(e.order, int32(i))
		}
		return e.order
	}
	for _, l := range e.last[:len(ms)] {
		if l >= 0 {
			e.order = append(e.order, l)
		}
	}
	return e.order
}

// indexKeysFirst reorders order (in place) as JS enumerates an object's own
// keys: array indices ascending, then the other keys as they were.
func (e *encoder) indexKeysFirst(ms []member, order []int32) []int32 {
	e.indexed = e.indexed[:0]
	names := 0
	for _, m := range order {
		if index, ok := arrayIndex(e.key(ms[m])); ok {
			e.indexed = append(e.indexed, indexedMember{index, m})
		} else {
			order[names] = m
			names++
		}
	}
	if len(e.indexed) == 0 {
		return order
	}
	slices.SortFunc(e.indexed, func(a, b indexedMember) int { return cmp.Compare(a.index, b.index) })
	copy(order[len(e.indexed):], order[:names])
	for i, im := range e.indexed {
		order[i] = im.member
	}
	return order
}
