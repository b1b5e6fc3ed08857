package webhook

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects in a body, so that a
// hostile body cannot exhaust the stack. encoding/json allows 10000; no
// webhook payload comes close to this.
const MaxDepth = 512

// Fields are the top-level values the gateway reads from a body. Byte slices
// alias the body when the JSON string held no escape sequence, so a caller
// must not modify the body while it uses them.
type Fields struct {
	// Event is the "event" string. Always set when Parse succeeds.
	Event []byte
	// ScreenshotID is "screenshot_id" as a string, or the literal text of a
	// number. Nil when absent or null.
	ScreenshotID []byte
	// BatchID is "batch_id", like ScreenshotID.
	BatchID []byte
	// ScreenshotIDIsNumber and BatchIDIsNumber are set when the id was a
	// JSON number: 123 and "123" are different ids.
	ScreenshotIDIsNumber, BatchIDIsNumber bool
	// CreatedAt is the "created_at" string. Nil when absent or null.
	CreatedAt []byte
}

// Error is a body rejection with a stable, machine-readable reason code.
type Error struct {
	// Reason is a short snake_case code suitable for logs and metrics.
	Reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// The rejection reasons. Each is a distinct value so callers can compare.
var (
	ErrInvalidJSON    = &Error{"body_invalid_json", "body is not valid JSON"}
	ErrInvalidUTF8    = &Error{"body_invalid_utf8", "body is not valid UTF-8 (RFC 8259 section 8.1)"}
	ErrNotObject      = &Error{"body_not_object", "body is not a JSON object"}
	ErrTooDeep        = &Error{"body_too_deep", "body nests deeper than allowed"}
	ErrMissingEvent   = &Error{"event_missing", `body has no "event" field`}
	ErrEventNotString = &Error{"event_not_string", `"event" is not a string`}
	ErrEmptyEvent     = &Error{"event_empty", `"event" is empty`}
	ErrDuplicateKey   = &Error{"duplicate_key", "an object in the body repeats a key"}
	ErrAmbiguousKey   = &Error{"ambiguous_key", "body has a key that JSON libraries read differently: a top-level key that differs only in case (or by escaping) from one the gateway reads, or a key with a lone surrogate escape"}
	ErrInvalidField   = &Error{"invalid_field", "a field the gateway reads has the wrong type or invalid text"}
)

// The watched top-level names, in the order of fieldIndex.
var watched = [...]string{"event", "screenshot_id", "batch_id", "created_at"}

const (
	fEvent = iota
	fScreenshotID
	fBatchID
	fCreatedAt
	fNone = -1
)

// Parse validates that body is one well-formed JSON object and extracts the
// watched top-level fields in a single pass, without building maps or
// allocating in the common case (no escapes in the watched values).
//
// Because the gateway and the application behind it may use different JSON
// libraries, Parse refuses bodies that libraries could read differently: an
// object, at any depth, that repeats a key (some libraries take the first
// value, others the last, others fail), a key that matches a watched one only
// when compared case-insensitively or after unescaping (Go's encoding/json
// matches struct fields that way, JavaScript does not), a key with a lone
// surrogate escape, and a body that is not UTF-8 (RFC 8259 requires it;
// libraries repair invalid bytes differently or refuse them). Watched string
// values must not hold lone surrogates either.
func Parse(body []byte) (Fields, error) {
	var f Fields
	if !utf8.Valid(body) {
		return f, ErrInvalidUTF8
	}
	p := parser{data: body}
	p.skipWS()
	if p.pos >= len(p.data) {
		return f, ErrInvalidJSON
	}
	if p.data[p.pos] != '{' {
		// Any other JSON value is valid JSON but not an event.
		if err := p.value(0); err != nil {
			return f, err
		}
		p.skipWS()
		if p.pos != len(p.data) {
			return f, ErrInvalidJSON
		}
		return f, ErrNotObject
	}
	p.pos++
	var seen [len(watched)]bool
	var keys keySet
	p.skipWS()
	if p.peek() == '}' {
		p.pos++
	} else {
		for {
			ks, ke, kesc, err := p.key()
			if err != nil {
				return f, err
			}
			if err := keys.add(p.data, ks, ke, kesc); err != nil {
				return f, err
			}
			idx, exact := matchKey(p.data[ks:ke], kesc)
			if idx == fNone {
				if err := p.value(1); err != nil {
					return f, err
				}
			} else {
				if !exact {
					return f, ErrAmbiguousKey
				}
				seen[idx] = true
				v, number, err := p.watchedValue(idx)
				if err != nil {
					return f, err
				}
				switch idx {
				case fEvent:
					f.Event = v
				case fScreenshotID:
					f.ScreenshotID, f.ScreenshotIDIsNumber = v, number
				case fBatchID:
					f.BatchID, f.BatchIDIsNumber = v, number
				case fCreatedAt:
					f.CreatedAt = v
				}
			}
			end, err := p.endOrComma('}')
			if err != nil {
				return f, err
			}
			if end {
				break
			}
		}
	}
	p.skipWS()
	if p.pos != len(p.data) {
		return f, ErrInvalidJSON
	}
	if !seen[fEvent] {
		return f, ErrMissingEvent
	}
	if f.Event == nil {
		return f, ErrEventNotString
	}
	if len(f.Event) == 0 {
		return f, ErrEmptyEvent
	}
	return f, nil
}

// watchedValue reads the value of a watched key. The event and created_at
// must be strings (created_at may be null); the ids may be strings or
// numbers, or null for absent.
func (p *parser) watchedValue(idx int) (v []byte, number bool, err error) {
	c := p.peek()
	switch {
	case c == '"':
		s, e, esc, err := p.str()
		if err != nil {
			return nil, false, err
		}
		raw := p.data[s:e]
		if !esc {
			if !utf8.Valid(raw) {
				return nil, false, ErrInvalidField
			}
			return raw, false, nil
		}
		out, ok := unescape(nil, raw)
		if !ok || !utf8.Valid(out) {
			return nil, false, ErrInvalidField
		}
		return out, false, nil
	case c == 'n':
		if err := p.value(1); err != nil {
			return nil, false, err
		}
		if idx == fEvent {
			return nil, false, ErrEventNotString
		}
		return nil, false, nil
	case (c == '-' || ('0' <= c && c <= '9')) && (idx == fScreenshotID || idx == fBatchID):
		s := p.pos
		if err := p.number(); err != nil {
			return nil, false, err
		}
		return p.data[s:p.pos], true, nil
	default:
		if err := p.value(1); err != nil {
			return nil, false, err
		}
		if idx == fEvent {
			return nil, false, ErrEventNotString
		}
		return nil, false, ErrInvalidField
	}
}

// matchKey reports which watched name key (raw, between the quotes) names,
// and whether it does so exactly. Non-exact matches are those an
// ASCII-or-Unicode case-insensitive comparison of the unescaped key finds.
func matchKey(raw []byte, escaped bool) (idx int, exact bool) {
	if !escaped {
		ascii := true
		for _, c := range raw {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			for i, w := range watched {
				if len(raw) == len(w) && equalFoldASCII(raw, w) {
					return i, string(raw) == w
				}
			}
			return fNone, false
		}
	}
	// Rare path: escapes or non-ASCII. Unescape into a small buffer; keys
	// much longer than the watched names cannot fold to them (a folded rune
	// is at most 3 bytes in UTF-8).
	if len(raw) > 3*6*len("screenshot_id") {
		return fNone, false
	}
	var buf [256]byte
	key, ok := unescape(buf[:0], raw)
	if !ok {
		// An undecodable key cannot be matched by any library reliably.
		return fNone, false
	}
	for i, w := range watched {
		if bytes.EqualFold(key, []byte(w)) {
			return i, !escaped && string(key) == w
		}
	}
	return fNone, false
}

func equalFoldASCII(a []byte, b string) bool {
	for i := 0; i < len(a); i++ {
		x := a[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != b[i] {
			return false
		}
	}
	return true
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// key reads an object member's key and the colon after it, leaving pos at
// the start of the value.
func (p *parser) key() (start, end int, escaped bool, err error) {
	p.skipWS()
	start, end, escaped, err = p.str()
	if err != nil {
		return
	}
	p.skipWS()
	if p.peek() != ':' {
		return 0, 0, false, ErrInvalidJSON
	}
	p.pos++
	p.skipWS()
	return
}

// endOrComma reads the comma between two members or elements, or the byte
// that closes the container; it reports whether the container ended.
func (p *parser) endOrComma(closing byte) (bool, error) {
	p.skipWS()
	c := p.peek()
	p.pos++
	switch c {
	case closing:
		return true, nil
	case ',':
		return false, nil
	}
	return false, ErrInvalidJSON
}

// value validates any JSON value starting at pos.
func (p *parser) value(depth int) error {
	if depth > MaxDepth {
		return ErrTooDeep
	}
	switch c := p.peek(); {
	case c == '"':
		_, _, _, err := p.str()
		return err
	case c == '{':
		p.pos++
		p.skipWS()
		if p.peek() == '}' {
			p.pos++
			return nil
		}
		var keys keySet
		for {
			ks, ke, kesc, err := p.key()
			if err != nil {
				return err
			}
			if err := keys.add(p.data, ks, ke, kesc); err != nil {
				return err
			}
			if err := p.value(depth + 1); err != nil {
				return err
			}
			if end, err := p.endOrComma('}'); end || err != nil {
				return err
			}
		}
	case c == '[':
		p.pos++
		p.skipWS()
		if p.peek() == ']' {
			p.pos++
			return nil
		}
		for {
			p.skipWS()
			if err := p.value(depth + 1); err != nil {
				return err
			}
			if end, err := p.endOrComma(']'); end || err != nil {
				return err
			}
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	}
	return ErrInvalidJSON
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return ErrInvalidJSON
	}
	p.pos += len(lit)
	return nil
}

// number validates a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() error {
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return ErrInvalidJSON
	}
	if p.peek() == '.' {
		p.pos++
		if p.digits() == 0 {
			return ErrInvalidJSON
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() == 0 {
			return ErrInvalidJSON
		}
	}
	return nil
}

func (p *parser) digits() int {
	s := p.pos
	for p.pos < len(p.data) && '0' <= p.data[p.pos] && p.data[p.pos] <= '9' {
		p.pos++
	}
	return p.pos - s
}

// str validates a JSON string at pos and returns the bounds of its contents
// (without quotes) and whether it contains escape sequences.
func (p *parser) str() (start, end int, escaped bool, err error) {
	if p.peek() != '"' {
		return 0, 0, false, ErrInvalidJSON
	}
	p.pos++
	start = p.pos
	d := p.data
	for i := p.pos; i < len(d); i++ {
		c := d[i]
		if !special[c] {
			continue
		}
		switch {
		case c == '"':
			p.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(d) {
				return 0, 0, false, ErrInvalidJSON
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) {
					return 0, 0, false, ErrInvalidJSON
				}
				for j := 1; j <= 4; j++ {
					if _, ok := hexVal(d[i+j]); !ok {
						return 0, 0, false, ErrInvalidJSON
					}
				}
				i += 4
			default:
				return 0, 0, false, ErrInvalidJSON
			}
		case c < 0x20:
			return 0, 0, false, ErrInvalidJSON
		}
	}
	return 0, 0, false, ErrInvalidJSON
}

// special marks the bytes that end the fast scan of a string's contents.
var special = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func hexVal(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10), true
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10), true
	}
	return 0, false
}

// unescape appends the decoded contents of an already validated JSON string
// to dst. It reports false for a lone surrogate, which decoders repair in
// different ways.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return dst, false
				}
				r2 := hex4(raw[i+3 : i+7])
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return dst, false
				}
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		v, _ := hexVal(c)
		r = r<<4 | v
	}
	return r
}
