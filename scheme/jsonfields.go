package scheme

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/scgate/scgate/refusal"
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
// rules for every body it reads (webhook.Parse's for ScreenshotCenter),
// refusing a body that JSON libraries could read differently: not UTF-8,
// not exactly one RFC 8259 object, nesting deeper than webhook.MaxDepth, no object anywhere
// with a key twice (compared once unescaped, so "type" and "\u0074ype" are
// the same key), no key with a lone surrogate escape. A key spelled like a
// member it reads in another case ("TYPE": Go's encoding/json matches keys
// case-insensitively, so an application could read it) is ambiguous_key,
// and so is a member read that is a lone surrogate away from another
// reading; a string read with a lone surrogate escape is invalid_field.
//
// It walks the body with encoding/json's tokenizer, which allocates per
// token: the schemes that read a JSON body pay that in Read, after the
// signature matched, never for a request nobody signed.
func readJSON(body []byte, members []jsonMember) *refusal.Refusal {
	if !utf8.Valid(body) {
		return BodyRefusal(webhook.ErrInvalidUTF8)
	}
	if !json.Valid(body) {
		return BodyRefusal(webhook.ErrInvalidJSON)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	r := jsonReader{d: d, body: body, members: members}
	tok, err := d.Token()
	if err != nil {
		return BodyRefusal(webhook.ErrInvalidJSON)
	}
	if tok != json.Delim('{') {
		// A scalar or an array: valid JSON or not, not what a scheme
		// reads.
		return BodyRefusal(webhook.ErrNotObject)
	}
	if rf := r.object(1, "", true); rf != nil {
		return rf
	}
	if _, err := d.Token(); err != io.EOF {
		return BodyRefusal(webhook.ErrInvalidJSON)
	}
	return nil
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

type jsonReader struct {
	d       *json.Decoder
	body    []byte
	members []jsonMember
	prev    int64 // where the token being read starts, at the latest
}

// token reads the next token and the raw text it came from (with the
// separators and space before it, which hold no backslash).
func (r *jsonReader) token() (json.Token, []byte, *refusal.Refusal) {
	tok, err := r.d.Token()
	if err != nil {
		return nil, nil, BodyRefusal(webhook.ErrInvalidJSON)
	}
	end := r.d.InputOffset()
	raw := r.body[r.prev:end]
	r.prev = end
	return tok, raw, nil
}

// object reads the members of an object whose '{' was read. read says
// whether its members are read (the top level, or parent's object), else
// it is only checked.
func (r *jsonReader) object(depth int, parent string, read bool) *refusal.Refusal {
	var keys map[string]struct{}
	for r.d.More() {
		tok, raw, rf := r.token()
		if rf != nil {
			return rf
		}
		key, _ := tok.(string)
		if hasLoneSurrogate(raw) {
			return BodyRefusal(webhook.ErrAmbiguousKey)
		}
		if keys == nil {
			keys = make(map[string]struct{}, 8)
		}
		if _, dup := keys[key]; dup {
			return BodyRefusal(webhook.ErrDuplicateKey)
		}
		keys[key] = struct{}{}
		m, nested := -1, false
		if read {
			if m, nested, rf = r.match(parent, key); rf != nil {
				return rf
			}
		}
		if rf := r.value(depth, key, m, nested); rf != nil {
			return rf
		}
	}
	// The closing '}'.
	_, _, rf := r.token()
	return rf
}

// match finds the member named key at this level (-1: none), or whether
// key is the parent of members read inside it; a key that differs from one
// of those only in case is ambiguous.
func (r *jsonReader) match(parent, key string) (int, bool, *refusal.Refusal) {
	found, nested := -1, false
	for i := range r.members {
		m := &r.members[i]
		name := m.name
		if parent == "" && m.parent != "" {
			name = m.parent
		} else if m.parent != parent {
			continue
		}
		switch {
		case key == name:
			if name == m.name && m.parent == parent {
				found = i
			} else {
				nested = true
			}
		case strings.EqualFold(key, name):
			return -1, false, BodyRefusal(webhook.ErrAmbiguousKey)
		}
	}
	return found, nested, nil
}

// value reads the value of key: into member m when m >= 0, and an object
// with nested members read when nested.
func (r *jsonReader) value(depth int, key string, m int, nested bool) *refusal.Refusal {
	tok, raw, rf := r.token()
	if rf != nil {
		return rf
	}
	kind := jsonOther
	var value []byte
	switch v := tok.(type) {
	case json.Delim:
		if depth+1 > webhook.MaxDepth {
			return BodyRefusal(webhook.ErrTooDeep)
		}
		if v == '{' {
			kind = jsonObject
			if rf := r.object(depth+1, key, nested); rf != nil {
				return rf
			}
		} else if rf := r.array(depth + 1); rf != nil {
			return rf
		}
	case string:
		if m >= 0 && hasLoneSurrogate(raw) {
			return BodyRefusal(webhook.ErrInvalidField)
		}
		kind, value = jsonString, []byte(v)
	case json.Number:
		kind, value = jsonNumber, []byte(v)
	case nil:
		kind = jsonNull
	}
	if m >= 0 {
		r.members[m].kind, r.members[m].value = kind, value
	}
	return nil
}

// array checks the values of an array whose '[' was read.
func (r *jsonReader) array(depth int) *refusal.Refusal {
	for r.d.More() {
		if rf := r.value(depth, "", -1, false); rf != nil {
			return rf
		}
	}
	_, _, rf := r.token()
	return rf
}

// hasLoneSurrogate reports whether raw, JSON text with its strings' escapes
// as sent, has a \u escape of a UTF-16 surrogate that is not half of a
// pair: encoding/json reads it as U+FFFD, other libraries keep it or fail.
func hasLoneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		// The escaped character: a backslash escaping a backslash is
		// passed over with it.
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		c, ok := hex4(raw[i+1:])
		if !ok {
			continue
		}
		i += 4
		switch {
		case c >= 0xdc00 && c <= 0xdfff:
			return true
		case c >= 0xd800 && c <= 0xdbff:
			rest := raw[i+1:]
			if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
				return true
			}
			if lo, ok := hex4(rest[2:]); !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
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
