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
	"unicode/utf8"

	"github.com/scgate/scgate/strictjson"
)

// MaxDepth bounds the nesting of arrays and objects Append re-encodes for JS
// and Python: the one limit of the JSON grammar (strictjson.MaxDepth), which
// the gateway's parser applies too. Both runtimes would go deeper; Append
// refuses instead so that its state stays bounded.
const MaxDepth = strictjson.MaxDepth

// MaxDepthPHP is the deepest nesting PHP's json_decode accepts with its
// default depth of 512 (which counts the scalar level too): a runtime
// limit, like its refusal of lone surrogates.
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
// runtime itself would fail on it. The JSON grammar, UTF-8 and the depth
// are checked by strictjson's Scanner, as for the gateway's parser, except
// that repeated keys are re-encoded, not refused.
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

// encoder is the state of one Append call. The scanner reads the body and
// checks its grammar; the encoder writes what it read as the style does.
// Nesting is handled by recursion (bounded by MaxDepth); the only
// per-member state is the members stack of the objects currently open,
// which object closing needs to find duplicate keys and, for JS, to move
// array-index keys to the front.
type encoder struct {
	s     strictjson.Scanner
	in    []byte // the body, as s reads it
	out   []byte
	style Style
	// infs counts the PHP numbers beyond the float64 range in the output
	// (as infPlaceholder bytes).
	infs int

	// item and colon are the separators between members or elements and
	// between a key and its value ("," and ":", or ", " and ": " for Python).
	item, colon string

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
	e.in, e.out, e.style, e.infs = body, dst, s, 0
	e.item, e.colon = ",", ":"
	// The scanner's mark: the one printable ASCII byte the style escapes
	// (with non-ASCII).
	switch s {
	case Python:
		e.item, e.colon = ", ", ": "
		e.s.SetMark(0x7f)
	case PHP:
		e.s.SetMark('/')
	default:
		e.s.SetMark(0) // JS writes valid UTF-8 and printable ASCII as they are
	}
}

// maxPooledMembers bounds the scratch an encoder keeps for the next call,
// so that one huge body does not pin its memory in the pool.
const maxPooledMembers = 1 << 14

func (e *encoder) finish() {
	e.in, e.out = nil, nil
	e.s.Reset(nil)
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
	if err := e.s.Reset(e.in); err != nil {
		if e.style == PHP {
			return e.phpFirstError(err)
		}
		return err
	}
	if err := e.value(0); err != nil {
		return err
	}
	if err := e.s.Finish(); err != nil {
		return err
	}
	if e.infs > 0 {
		// json_decode accepted the body (its errors came first) and
		// json_encode meets INF.
		return ErrNumberOutOfRange
	}
	return nil
}

// phpFirstError returns the refusal of a body that is not UTF-8 (utf8Err)
// as PHP gives it. The grammar refuses such a body before reading it;
// json_decode reports the first problem it meets in the body instead,
// which may be one of its own before the first invalid byte (a lone
// surrogate, nesting too deep). So the body is re-encoded up to that byte:
// a refusal of PHP's there comes first; running out of text is the invalid
// byte's.
func (e *encoder) phpFirstError(utf8Err error) error {
	valid := 0
	for valid < len(e.in) {
		r, size := utf8.DecodeRune(e.in[valid:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		valid += size
	}
	if e.s.Reset(e.in[:valid]) != nil {
		return utf8Err
	}
	switch err := e.value(0); err {
	case nil, ErrInvalidJSON:
		return utf8Err
	default:
		return err
	}
}

// infPlaceholder stands for INF in PHP output, which never holds a byte
// above 0x7f otherwise (json_encode escapes all non-ASCII).
const infPlaceholder = 0xff

// value re-encodes the value at the scanner's position (after whitespace);
// depth is the number of arrays and objects around it.
func (e *encoder) value(depth int) error {
	switch e.s.Kind() {
	case strictjson.String:
		return e.str()
	case strictjson.Object:
		return e.object(depth + 1)
	case strictjson.Array:
		return e.array(depth + 1)
	case strictjson.Null, strictjson.True, strictjson.False:
		lit, err := e.s.Literal()
		e.out = append(e.out, lit...)
		return err
	case strictjson.Number:
		return e.number()
	}
	return ErrInvalidJSON
}

// openContainer reads and writes the byte opening an array or object at
// depth (the arrays and objects around it, itself included), and the
// closing one too if the container is empty.
func (e *encoder) openContainer(depth int, opening, closing byte) (empty bool, err error) {
	if e.style == PHP && depth > MaxDepthPHP {
		return false, ErrTooDeep
	}
	e.out = append(e.out, opening)
	empty, err = e.s.Open(depth)
	if empty {
		e.out = append(e.out, closing)
	}
	return empty, err
}

func (e *encoder) array(depth int) error {
	if empty, err := e.openContainer(depth, '[', ']'); empty || err != nil {
		return err
	}
	for {
		if err := e.value(depth); err != nil {
			return err
		}
		more, err := e.s.More(']')
		if err != nil {
			return err
		}
		if !more {
			e.out = append(e.out, ']')
			return nil
		}
		e.out = append(e.out, e.item...)
	}
}
