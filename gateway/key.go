package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/scgate/scgate/scheme"
)

// Keyer computes the dedupe keys of one endpoint from the signed body and
// the configuration only: nothing a client chooses (the Host, the path, a
// query string, an unsigned header) changes the key of a signed event, so a
// captured event replayed with other request details is still a duplicate.
type Keyer struct {
	// Namespace keeps apart the keys of endpoints that share a store.
	Namespace string
	// Template, if not nil, builds the key instead of the scheme's default.
	Template *KeyTemplate
	// Scheme makes the default key (Scheme.AppendKey). Required without
	// Template.
	Scheme scheme.Scheme
}

// ErrKeyUnresolved refuses an event for which the key template has a field
// that is missing or empty: left out, it would give different events the
// same key.
var ErrKeyUnresolved = reject(http.StatusBadRequest, "dedupe_key_unresolved", "the dedupe key template has a field this event does not have")

// Key returns the key of ev.
func (k *Keyer) Key(ev Event) (Key, *Rejection) {
	var buf [512]byte
	b := append(append(buf[:0], k.Namespace...), '\n')
	n := len(b)
	if k.Template == nil {
		b = appendDefaultKey(b, k.Scheme, ev)
	} else {
		var ok bool
		if b, ok = k.Template.Append(b, ev); !ok {
			return Key{}, ErrKeyUnresolved
		}
	}
	return Key{Store: string(b), n: n}, nil
}

// Key is the dedupe key of an event as the store sees it: its namespace, a
// newline and the key proper. Store is what the store is asked about;
// Display is the key without its namespace, as logs, the dedupe_key
// placeholder and X-Scgate-Dedupe-Key show it.
type Key struct {
	Store string
	n     int // where the key proper starts in Store
}

// Display is the key without its namespace.
func (k Key) Display() string { return k.Store[k.n:] }

// appendDefaultKey appends the default dedupe key of an event, made of
// signed data only, so that two different events never share one: the
// event type as a JSON string, then the name of the field that the scheme
// says names the event and its value, a JSON string or the literal text of
// a JSON number (123 and "123" are different ids):
//
//	"screenshot.finished" screenshot_id "sc_abc123"
//	"batch.finished" batch_id 42
//	"custom.event" sha256 <hex SHA-256 of the raw body>
//
// A number is keyed as written, not by its value (100, 1e2 and 100.0 are
// different keys): the signer chooses the bytes, and a retry of one event
// carries the same signed bytes. An event without an identity is keyed by
// its whole body's hash. Each part is delimited (quoted, or a fixed word),
// so no value can imitate another part. An event type the signature does
// not cover (scheme.Event.UnsignedType: GitHub's, Shopify's) is left out,
// so that a replay under another type is still a duplicate; such schemes
// have no identity, and the key is the body's hash alone:
//
//	sha256 <hex SHA-256 of the raw body>
func appendDefaultKey(dst []byte, s scheme.Scheme, ev Event) []byte {
	if ev.Signed.UnsignedType {
		sum := sha256.Sum256(ev.Body)
		return hex.AppendEncode(append(dst, "sha256 "...), sum[:])
	}
	dst = appendQuoted(dst, ev.Signed.Type)
	if id, ok := s.Identity(ev.Signed); ok {
		dst = append(append(append(dst, ' '), id.Name...), ' ')
		if id.Number {
			return append(dst, id.Value...)
		}
		return appendQuoted(dst, id.Value)
	}
	sum := sha256.Sum256(ev.Body)
	return hex.AppendEncode(append(dst, " sha256 "...), sum[:])
}

// appendQuoted appends s as a JSON string: quotes, backslashes and control
// bytes escaped, everything else as is. Different strings give different
// results, and a result never holds a control byte.
func appendQuoted(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
