// Package reencode rewrites a JSON body exactly as a runtime's default JSON
// round trip would: JSON.stringify(JSON.parse(body)) in Node.js,
// json.dumps(json.loads(body)) in Python 3, json_encode(json_decode($body))
// in PHP 8.
//
// The gateway verifies the signature over the raw bytes. Handlers written
// after the vendor's sample verify the HMAC of the re-serialised body
// instead, so any difference in whitespace, key order, escaping or number
// format makes them reject valid events. With the output of Append, re-signed,
// such a handler sees a body that is a fixed point of its own round trip and
// its check passes. The values the handler sees are the ones it would have
// parsed from the original body (PHP's -0.0 aside, see Append).
package reencode

import (
	"hash/maphash"
	"sync"
)

// MaxDepth is the deepest nesting of arrays and objects Append re-encodes for
// JS and Python (the gateway's own parser allows about as much). Both
// runtimes would go deeper; Append refuses instead so that its state stays
// bounded.
const MaxDepth = 512

// MaxDepthPHP is the deepest nesting PHP's json_decode accepts with its
// default depth of 512 (which counts the scalar level too).
const MaxDepthPHP = 511

// Append appends to dst the bytes that the runtime of style s produces when
// it re-serialises the parsed body with its default settings, exactly. body
// is one JSON value (the gateway passes objects) with optional surrounding
// whitespace. Duplicate keys are re-encoded as all three runtimes do: the
// last value at the position of the first key.
//
// The output is always a fixed point of the runtime's round trip, which is
// what a handler checking the HMAC of its re-serialised body needs. In the
// one case where the runtime's own output is not (PHP writes -0.0 as "-0",
// which it reads back as the integer 0), Append writes what the runtime
// writes on the second round trip ("0").
//
// It returns a *Error (one of the Err values) and dst unchanged when the body
// is not valid JSON or UTF-8, nests deeper than the style allows, or the
// runtime itself would fail on it.
//
// Append makes one pass over the body and does not allocate when dst has
// room for the output (amortised: object member positions and the scratch
// space for rewriting objects are pooled). It keeps 16 bytes per member of
// the objects still open. An object whose members JS reorders or whose keys
// repeat is rewritten in place when it closes, so nested objects that all
// need it cost up to depth times the body's size (20 to 40 ms for 1 MiB
// nested 500 deep, see BenchmarkAppendNestedRewrites, against about 1 ms for
// ordinary bodies; the gateway re-encodes only signed bodies).
func Append(dst, body []byte, s Style) ([]byte, error) {
	if !s.valid() {
		return dst, ErrUnknownStyle
	}
	e := encoders.Get().(*encoder)
	e.start(dst, body, s)
	err := e.run()
	out := e.out
	e.finish()
	encoders.Put(e)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// encoder is the state of one Append call. Nesting is handled by recursion
// (bounded by maxDepth); the only per-member state is the members stack of
// the objects currently open, which object closing needs to find duplicate
// keys and, for JS, to move array-index keys to the front.
type encoder struct {
	in       []byte
	pos      int
	out      []byte
	style    Style
	maxDepth int
	// infs counts the PHP numbers beyond the float64 range in the output
	// (as infPlaceholder bytes).
	infs int

	// item and colon are the separators between members or elements and
	// between a key and its value ("," and ":", or ", " and ": " for Python).
	item, colon string
	// verbatim marks the bytes a string copies unchanged in this style.
	verbatim *[256]bool

	members []member
	scratch []byte
	order   []int32
	last    []int32
	table   []int32
	indexed []indexedMember
	seed    maphash.Seed
}

var encoders = sync.Pool{New: func() any { return &encoder{seed: maphash.MakeSeed()} }}

func (e *encoder) start(dst, body []byte, s Style) {
	e.in, e.pos, e.out, e.style, e.infs = body, 0, dst, s, 0
	e.maxDepth = MaxDepth
	e.item, e.colon = ",", ":"
	switch s {
	case Python:
		e.item, e.colon = ", ", ": "
		e.verbatim = &verbatimPython
	case PHP:
		e.maxDepth = MaxDepthPHP
		e.verbatim = &verbatimPHP
	default:
		e.verbatim = &verbatimJS
	}
}

// maxPooledMembers bounds the scratch an encoder keeps for the next call,
// so that one huge body does not pin its memory in the pool.
const maxPooledMembers = 1 << 14

func (e *encoder) finish() {
	e.in, e.out = nil, nil
	e.members = e.members[:0]
	if cap(e.members) > maxPooledMembers {
		e.members = nil
		e.order, e.last, e.table, e.indexed = nil, nil, nil, nil
	}
	if cap(e.scratch) > 16*maxPooledMembers {
		e.scratch = nil
	}
}

func (e *encoder) run() error {
	if err := e.value(0); err != nil {
		return err
	}
	e.skipWS()
	if e.pos != len(e.in) {
		return ErrInvalidJSON
	}
	if e.infs > 0 {
		// json_decode accepted the body (its errors came first) and
		// json_encode meets INF.
		return ErrNumberOutOfRange
	}
	return nil
}

// infPlaceholder stands for INF in PHP output, which never holds a byte
// above 0x7f otherwise (json_encode escapes all non-ASCII).
const infPlaceholder = 0xff

func (e *encoder) skipWS() {
	in, i := e.in, e.pos // locals: the loop runs over every indentation byte
	for i < len(in) && in[i] <= ' ' && (in[i] == ' ' || in[i] == '\n' || in[i] == '\t' || in[i] == '\r') {
		i++
	}
	e.pos = i
}

// value re-encodes the value at pos (after whitespace); depth is the number
// of arrays and objects around it.
func (e *encoder) value(depth int) error {
	e.skipWS()
	if e.pos >= len(e.in) {
		return ErrInvalidJSON
	}
	switch c := e.in[e.pos]; {
	case c == '"':
		return e.str()
	case c == '{':
		return e.object(depth + 1)
	case c == '[':
		return e.array(depth + 1)
	case c == 't':
		return e.literal("true")
	case c == 'f':
		return e.literal("false")
	case c == 'n':
		return e.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return e.number()
	}
	return ErrInvalidJSON
}

func (e *encoder) literal(lit string) error {
	if len(e.in)-e.pos < len(lit) || string(e.in[e.pos:e.pos+len(lit)]) != lit {
		return ErrInvalidJSON
	}
	e.pos += len(lit)
	e.out = append(e.out, lit...)
	return nil
}

// openContainer reads and writes the byte opening an array or object at
// depth, and the closing one too if the container is empty.
func (e *encoder) openContainer(depth int, opening, closing byte) (empty bool, err error) {
	if depth > e.maxDepth {
		return false, ErrTooDeep
	}
	e.pos++
	e.out = append(e.out, opening)
	e.skipWS()
	if e.pos < len(e.in) && e.in[e.pos] == closing {
		e.pos++
		e.out = append(e.out, closing)
		return true, nil
	}
	return false, nil
}

func (e *encoder) array(depth int) error {
	if empty, err := e.openContainer(depth, '[', ']'); empty || err != nil {
		return err
	}
	for {
		if err := e.value(depth); err != nil {
			return err
		}
		end, err := e.endOrComma(']')
		if err != nil || end {
			return err
		}
	}
}

// endOrComma reads the comma between two members or elements and writes the
// style's separator, or reads and writes the byte closing the container.
func (e *encoder) endOrComma(closing byte) (end bool, err error) {
	e.skipWS()
	if e.pos >= len(e.in) {
		return false, ErrInvalidJSON
	}
	switch e.in[e.pos] {
	case ',':
		e.pos++
		e.out = append(e.out, e.item...)
		return false, nil
	case closing:
		e.pos++
		e.out = append(e.out, closing)
		return true, nil
	}
	return false, ErrInvalidJSON
}
