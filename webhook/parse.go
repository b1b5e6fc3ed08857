package webhook

import (
	"bytes"
	"unicode/utf8"

	"github.com/scgate/scgate/strictjson"
)

// MaxDepth bounds the nesting of arrays and objects in a body: the one
// limit of the JSON grammar (strictjson.MaxDepth).
const MaxDepth = strictjson.MaxDepth

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

// Error is a body rejection with a stable, machine-readable reason code:
// the one type of the JSON grammar's refusals and of the field checks here.
type Error = strictjson.Error

// The rejection reasons. Each is a distinct value so callers can compare.
// The first six are the JSON grammar's (package strictjson); the receiver
// answers them with its own reason codes (body_invalid_json for
// ErrInvalidJSON, see the gateway package).
var (
	ErrInvalidJSON    = strictjson.ErrInvalidJSON
	ErrInvalidUTF8    = strictjson.ErrInvalidUTF8
	ErrNotObject      = strictjson.ErrNotObject
	ErrTooDeep        = strictjson.ErrTooDeep
	ErrDuplicateKey   = strictjson.ErrDuplicateKey
	ErrAmbiguousKey   = strictjson.ErrAmbiguousKey
	ErrMissingEvent   = strictjson.NewError("event_missing", `body has no "event" field`)
	ErrEventNotString = strictjson.NewError("event_not_string", `"event" is not a string`)
	ErrEmptyEvent     = strictjson.NewError("event_empty", `"event" is empty`)
	ErrInvalidField   = strictjson.NewError("invalid_field", "a field the gateway reads has the wrong type or invalid text")
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

// Parse validates that body is one well-formed JSON object under the strict
// rules of strictjson (UTF-8, no repeated key in any object, no key with a
// lone surrogate escape, MaxDepth) and extracts the watched top-level
// fields in the same single pass, without building maps or allocating in
// the common case (no escapes in the watched values).
//
// Because the gateway and the application behind it may use different JSON
// libraries, Parse refuses bodies that libraries could read differently:
// those strictjson refuses, and a key that matches a watched one only when
// compared case-insensitively or after unescaping (Go's encoding/json
// matches struct fields that way, JavaScript does not). Watched string
// values must not hold lone surrogates either.
func Parse(body []byte) (Fields, error) {
	var f Fields
	var m strictjson.Members
	if err := m.Reset(body); err != nil {
		return f, err
	}
	var seen [len(watched)]bool
	for {
		ok, err := m.Next()
		if err != nil {
			return f, err
		}
		if !ok {
			break
		}
		idx, exact := matchKey(m.Name())
		if idx == fNone {
			if err := m.Skip(1); err != nil {
				return f, err
			}
			continue
		}
		if !exact {
			return f, ErrAmbiguousKey
		}
		seen[idx] = true
		v, number, err := watchedValue(&m.Scanner, idx)
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
func watchedValue(s *strictjson.Scanner, idx int) (v []byte, number bool, err error) {
	switch k := s.Kind(); {
	case k == strictjson.String:
		start, end, flags, err := s.String()
		if err != nil {
			return nil, false, err
		}
		raw := s.Data()[start:end]
		if flags&strictjson.Escaped == 0 {
			return raw, false, nil
		}
		out, ok := strictjson.Unescape(nil, raw)
		if !ok || !utf8.Valid(out) {
			return nil, false, ErrInvalidField
		}
		return out, false, nil
	case k == strictjson.Null:
		if _, err := s.Literal(); err != nil {
			return nil, false, err
		}
		if idx == fEvent {
			return nil, false, ErrEventNotString
		}
		return nil, false, nil
	case k == strictjson.Number && (idx == fScreenshotID || idx == fBatchID):
		start, end, _, err := s.Number()
		if err != nil {
			return nil, false, err
		}
		return s.Data()[start:end], true, nil
	default:
		if err := s.Skip(1); err != nil {
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
	key, ok := strictjson.Unescape(buf[:0], raw)
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
