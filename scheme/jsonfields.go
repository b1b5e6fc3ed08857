package scheme

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/webhook"
)

// readStringFields reads the top-level string members names of a JSON
// object body into out (nil where a member is absent or null), refusing,
// as webhook.Parse does for ScreenshotCenter's bodies, a body that JSON
// libraries could read differently: one that is not UTF-8, not exactly one
// object, nested deeper than webhook.MaxDepth, or that repeats a key in any
// object (also when only the escaping differs); a top-level key that
// differs from a name only in case (Go's encoding/json, which stripe-go
// uses, matches those; JavaScript does not); and a named member that is
// not a string.
//
// It walks the body with encoding/json's tokenizer, which allocates per
// token: the schemes that read a JSON body (Stripe's) pay that in Read,
// after the signature matched, never for a request nobody signed.
func readStringFields(body []byte, names []string, out [][]byte) *refusal.Refusal {
	clear(out)
	if !utf8.Valid(body) {
		return BodyRefusal(webhook.ErrInvalidUTF8)
	}
	if !json.Valid(body) {
		return BodyRefusal(webhook.ErrInvalidJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return BodyRefusal(webhook.ErrNotObject)
	}
	// keys holds the keys of each open object; nil for an array.
	keys := []map[string]struct{}{{}}
	expectKey := true // the next token of the innermost object is a key
	member := -1      // the name index whose value comes next (top level)
	for len(keys) > 0 {
		tok, err := dec.Token()
		if err != nil {
			// json.Valid passed: only a second value after the object.
			return BodyRefusal(webhook.ErrInvalidJSON)
		}
		inObject := keys[len(keys)-1] != nil
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			keys = keys[:len(keys)-1]
			expectKey = len(keys) > 0 && keys[len(keys)-1] != nil
			continue
		}
		if inObject && expectKey {
			key := tok.(string)
			if _, dup := keys[len(keys)-1][key]; dup {
				return BodyRefusal(webhook.ErrDuplicateKey)
			}
			keys[len(keys)-1][key] = struct{}{}
			expectKey = false
			if len(keys) == 1 {
				member = -1
				for i, n := range names {
					if key == n {
						member = i
					} else if strings.EqualFold(key, n) {
						return BodyRefusal(webhook.ErrAmbiguousKey)
					}
				}
			}
			continue
		}
		// A value.
		expectKey = inObject
		top := len(keys) == 1 && member >= 0
		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			if top {
				return BodyRefusal(webhook.ErrInvalidField)
			}
			if len(keys) == webhook.MaxDepth {
				return BodyRefusal(webhook.ErrTooDeep)
			}
			if v == '{' {
				keys = append(keys, map[string]struct{}{})
				expectKey = true
			} else {
				keys = append(keys, nil)
				expectKey = false
			}
		case string:
			if top {
				out[member] = []byte(v)
			}
		case nil:
		default: // a number or a boolean
			if top {
				return BodyRefusal(webhook.ErrInvalidField)
			}
		}
		if len(keys) == 1 {
			member = -1
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BodyRefusal(webhook.ErrInvalidJSON)
	}
	return nil
}
