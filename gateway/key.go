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

// DefaultKey builds the default dedupe key: the event, a "|" separator and
// the screenshot_id; for events without one, "batch:" and the batch_id; and
// without either, "sha256:" and the hex SHA-256 of the raw body. An empty
// id counts as absent, so events with an empty id never share a key.
func DefaultKey(ev Event) string {
	var buf [256]byte
	return string(AppendDefaultKey(buf[:0], ev))
}

// AppendDefaultKey appends DefaultKey's key to dst.
func AppendDefaultKey(dst []byte, ev Event) []byte {
	f := ev.Fields
	dst = append(dst, f.Event...)
	dst = append(dst, '|')
	switch {
	case len(f.ScreenshotID) > 0:
		dst = append(dst, f.ScreenshotID...)
	case len(f.BatchID) > 0:
		dst = append(dst, "batch:"...)
		dst = append(dst, f.BatchID...)
	default:
		sum := sha256.Sum256(ev.Body)
		dst = append(dst, "sha256:"...)
		dst = hex.AppendEncode(dst, sum[:])
	}
	return dst
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
