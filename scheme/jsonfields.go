package scheme

import (
	"bytes"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/strictjson"
	"github.com/scgate/scgate/webhook"
)

// fieldType is the signed field that holds the event type in the schemes
// that read it from the body's "type".
const fieldType = "type"

// jsonKind is what a JSON member read by readJSON holds.
type jsonKind uint8

const (
	jsonAbsent jsonKind = iota
	jsonString
	jsonNumber
	jsonObject
	jsonNull
	jsonOther // true, false or an array
)

// jsonMember is one member of a JSON object body that a scheme reads: name
// at the top level, or inside the top-level object member parent.
type jsonMember struct {
	parent, name string
	// Set by readJSON: the string's content (unescaped) or the number's
	// text as written.
	value []byte
	kind  jsonKind
}

// readJSON reads body, which must be one JSON object, with the receiver's
// rules for every body it reads (webhook.Parse's for ScreenshotCenter, on
// the same grammar, strictjson), refusing a body that JSON libraries could
// read differently: not UTF-8, not exactly one RFC 8259 object, nesting
// deeper than strictjson.MaxDepth, no object anywhere with a key twice
// (compared once unescaped, so "type" and "\u0074ype" are the same key),
// no key with a lone surrogate escape. A key spelled like a member it
// reads in another case ("TYPE": Go's encoding/json matches keys
// case-insensitively, so an application could read it) is ambiguous_key;
// a string read with a lone surrogate escape is invalid_field. A string
// read aliases body unless it held an escape.
//
// It makes one pass and, for objects of up to 32 members, allocates only
// to unescape a string it reads that holds an escape.
func readJSON(body []byte, members []jsonMember) *refusal.Refusal {
	var m strictjson.Members
	if err := m.Reset(body); err != nil {
		return bodyRefusal(err)
	}
	for {
		ok, err := m.Next()
		if err != nil {
			return bodyRefusal(err)
		}
		if !ok {
			return nil
		}
		raw, escaped := m.Name()
		i, parent, rf := match(members, "", raw, escaped)
		if rf != nil {
			return rf
		}
		if rf := readValue(&m.Scanner, 1, members, i, parent); rf != nil {
			return rf
		}
	}
}

// readStringFields reads the top-level string members names of a JSON
// object body into out (nil where a member is absent or null), with
// readJSON's rules; a named member of another JSON type is invalid_field.
func readStringFields(body []byte, names []string, out [][]byte) *refusal.Refusal {
	clear(out)
	var buf [maxFields]jsonMember
	members := buf[:0]
	for _, n := range names {
		members = append(members, jsonMember{name: n})
	}
	if rf := readJSON(body, members); rf != nil {
		return rf
	}
	for i, m := range members {
		switch m.kind {
		case jsonString:
			out[i] = m.value
		case jsonAbsent, jsonNull:
		default:
			return BodyRefusal(webhook.ErrInvalidField)
		}
	}
	return nil
}

// readObject reads the members of the object at s's position, at depth,
// that is the value of the top-level member parent: those of members
// inside parent.
func readObject(s *strictjson.Scanner, depth int, members []jsonMember, parent string) *refusal.Refusal {
	var o strictjson.ObjectMembers
	if err := o.Open(s, depth); err != nil {
		return bodyRefusal(err)
	}
	for {
		ok, err := o.Next(s)
		if err != nil {
			return bodyRefusal(err)
		}
		if !ok {
			return nil
		}
		raw, escaped := o.Name(s)
		i, _, rf := match(members, parent, raw, escaped)
		if rf != nil {
			return rf
		}
		if rf := readValue(s, depth, members, i, ""); rf != nil {
			return rf
		}
	}
}

// match finds the member named by the key raw (as written) inside parent
// ("": at the top level): its index (-1: none), and, at the top level,
// the parent of members read inside the key's value (""; none). A key
// that differs from one of those only in case is ambiguous.
func match(members []jsonMember, parent string, raw []byte, escaped bool) (int, string, *refusal.Refusal) {
	key := raw
	if escaped {
		var buf [64]byte
		// A key with a lone surrogate escape was refused (ambiguous_key).
		key, _ = strictjson.Unescape(buf[:0], raw)
	}
	found, nested := -1, ""
	for i := range members {
		m := &members[i]
		var name string
		switch {
		case m.parent == parent:
			name = m.name
		case parent == "":
			name = m.parent
		default:
			continue
		}
		switch {
		case string(key) == name && m.parent == parent:
			found = i
		case string(key) == name:
			nested = name
		case bytes.EqualFold(key, []byte(name)):
			return -1, "", BodyRefusal(webhook.ErrAmbiguousKey)
		}
	}
	return found, nested, nil
}

// readValue reads the value at s's position, at depth: into members[i]
// when i >= 0, and, when parent is set, an object's members inside parent.
func readValue(s *strictjson.Scanner, depth int, members []jsonMember, i int, parent string) *refusal.Refusal {
	kind := jsonOther
	var value []byte
	switch s.Kind() {
	case strictjson.String:
		start, end, flags, err := s.String()
		if err != nil {
			return bodyRefusal(err)
		}
		kind, value = jsonString, s.Data()[start:end]
		if i >= 0 && flags&strictjson.Escaped != 0 {
			out, ok := strictjson.Unescape(nil, value)
			if !ok {
				// A lone surrogate: libraries read it differently.
				return BodyRefusal(webhook.ErrInvalidField)
			}
			value = out
		}
	case strictjson.Number:
		start, end, _, err := s.Number()
		if err != nil {
			return bodyRefusal(err)
		}
		kind, value = jsonNumber, s.Data()[start:end]
	case strictjson.Null:
		if _, err := s.Literal(); err != nil {
			return bodyRefusal(err)
		}
		kind = jsonNull
	case strictjson.Object:
		kind = jsonObject
		if parent != "" {
			if rf := readObject(s, depth+1, members, parent); rf != nil {
				return rf
			}
			break
		}
		if err := s.Skip(depth); err != nil {
			return bodyRefusal(err)
		}
	default: // true, false, an array, or no value at all
		if err := s.Skip(depth); err != nil {
			return bodyRefusal(err)
		}
	}
	if i >= 0 {
		members[i].kind, members[i].value = kind, value
	}
	return nil
}

// bodyRefusal is the refusal of a body the grammar (or a layer on it)
// refuses with err.
func bodyRefusal(err error) *refusal.Refusal {
	if e, ok := err.(*webhook.Error); ok {
		return BodyRefusal(e)
	}
	return BodyRefusal(webhook.ErrInvalidJSON)
}

// eventType is the event type a member holds: a non-empty string, or (when
// numbers is set) an integer as written. Absent, null or empty is
// ErrFieldMissing; another JSON type is invalid_field.
func eventType(m jsonMember, numbers bool) ([]byte, *refusal.Refusal) {
	switch {
	case m.kind == jsonAbsent || m.kind == jsonNull || m.kind == jsonString && len(m.value) == 0:
		return nil, ErrFieldMissing
	case m.kind == jsonString:
		return m.value, nil
	case m.kind == jsonNumber && numbers && isInteger(m.value):
		return m.value, nil
	}
	return nil, BodyRefusal(webhook.ErrInvalidField)
}

// isInteger reports whether a JSON number's text is an integer (no
// fraction, no exponent).
func isInteger(n []byte) bool { return bytes.IndexAny(n, ".eE") < 0 }
