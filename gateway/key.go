package gateway

import (
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
		b = k.Scheme.AppendKey(b, &ev.Signed, ev.Body)
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
