package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeyTemplate is a dedupe key template: literal text and fields of the
// signed body, e.g. "{event}/{screenshot_id}". Only signed data may go into
// a key: a request detail (a header, the Host, the path) would let whoever
// replays a captured event give it a new key.
type KeyTemplate struct {
	parts []templatePart
}

type templatePart struct {
	literal string
	field   string // "" for a literal
}

// BodySHA256 is the placeholder of the body's SHA-256 (hex), which a key
// template of every scheme may use.
const BodySHA256 = "body_sha256"

// ParseKeyTemplate parses a key template whose placeholders are the signed
// fields a scheme names (Scheme.FieldNames) and body_sha256. A literal
// brace is written \{ or \}. It refuses a template without a placeholder
// (every event would share one key), an unknown placeholder, and an
// unmatched brace.
func ParseKeyTemplate(s string, fields []string) (*KeyTemplate, error) {
	known := append(slices.Clone(fields), BodySHA256)
	t := new(KeyTemplate)
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}'):
			lit.WriteByte(s[i+1])
			i++
		case c == '}':
			return nil, errors.New("key template has an unmatched } (write a literal brace as \\})")
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, errors.New("key template has an unmatched { (write a literal brace as \\{)")
			}
			name := s[i+1 : i+end]
			if !slices.Contains(known, name) {
				return nil, fmt.Errorf("key template placeholder {%s} is not a signed field: use {%s}", name, strings.Join(known, "}, {"))
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, templatePart{literal: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, templatePart{field: name})
			i += end
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, templatePart{literal: lit.String()})
	}
	for _, p := range t.parts {
		if p.field != "" {
			return t, nil
		}
	}
	return nil, errors.New("key template must contain a placeholder, e.g. {event}/{screenshot_id}; a constant key would make every event a duplicate of the first")
}

// Append appends the key of ev to dst. It reports false when a field of
// the template is missing or empty in ev.
func (t *KeyTemplate) Append(dst []byte, ev Event) ([]byte, bool) {
	for _, p := range t.parts {
		var v []byte
		switch p.field {
		case "":
			dst = append(dst, p.literal...)
			continue
		case BodySHA256:
			sum := sha256.Sum256(ev.Body)
			dst = hex.AppendEncode(dst, sum[:])
			continue
		default:
			f, _ := ev.Signed.Field(p.field)
			v = f.Value
		}
		if len(v) == 0 {
			return dst, false
		}
		dst = append(dst, v...)
	}
	return dst, true
}
