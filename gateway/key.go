package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Key is the dedupe key of an event as the store sees it: its namespace, a
// newline and the key proper. Store is what the store is asked about;
// Display is the key without its namespace, as logs, the dedupe_key
// placeholder and X-Scgate-Dedupe-Key show it.
type Key struct {
	Store string
	n     int // where the key proper starts in Store
}

// NewKey builds the Key of key under namespace. namespace is appended to
// (give it spare capacity to spare an allocation).
func NewKey(namespace []byte, key string) Key {
	b := append(namespace, '\n')
	n := len(b)
	return Key{Store: string(append(b, key...)), n: n}
}

// DefaultKeyIn builds the Key of ev's default key under namespace, which
// is appended to like NewKey's.
func DefaultKeyIn(namespace []byte, ev Event) Key {
	b := append(namespace, '\n')
	n := len(b)
	return Key{Store: string(AppendDefaultKey(b, ev)), n: n}
}

// Display is the key without its namespace.
func (k Key) Display() string { return k.Store[k.n:] }

// DisplayKey is the Display form of a store key.
func DisplayKey(storeKey string) string {
	_, key, _ := strings.Cut(storeKey, "\n")
	return key
}

// DefaultKey builds the default dedupe key of an event from its signed
// fields, so that two different events never share one: the event name as
// a JSON string, then the id that names the event and its value, which is
// a JSON string or the literal text of a JSON number (123 and "123" are
// different ids):
//
//	"screenshot.finished" screenshot_id "sc_abc123"
//	"batch.finished" batch_id 42
//	"custom.event" sha256 <hex SHA-256 of the raw body>
//
// The screenshot_id names the event when present and not empty, else the
// batch_id, else the whole body's hash. Each part is delimited (quoted, or
// a fixed word), so no value can imitate another part.
func DefaultKey(ev Event) string {
	var buf [256]byte
	return string(AppendDefaultKey(buf[:0], ev))
}

// AppendDefaultKey appends DefaultKey's key to dst.
func AppendDefaultKey(dst []byte, ev Event) []byte {
	f := ev.Fields
	dst = appendQuoted(dst, f.Event)
	switch {
	case len(f.ScreenshotID) > 0:
		dst = appendID(append(dst, " screenshot_id "...), f.ScreenshotID, f.ScreenshotIDIsNumber)
	case len(f.BatchID) > 0:
		dst = appendID(append(dst, " batch_id "...), f.BatchID, f.BatchIDIsNumber)
	default:
		sum := sha256.Sum256(ev.Body)
		dst = hex.AppendEncode(append(dst, " sha256 "...), sum[:])
	}
	return dst
}

// appendID appends an id: a number's literal text as is, a string quoted.
func appendID(dst, id []byte, number bool) []byte {
	if number {
		return append(dst, id...)
	}
	return appendQuoted(dst, id)
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

// AppendDefaultNamespace appends the default namespace of a request to b:
// its host (lowercased, without port) and path. Deliveries of one event to
// two different webhook URLs, say two applications behind one Caddy, are
// then deduplicated separately, while replicas behind a load balancer,
// which see the same host and path, share their keys.
func AppendDefaultNamespace(b []byte, host, path string) []byte {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, path...)
}
