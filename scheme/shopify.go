package scheme

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"time"

	"github.com/scgate/scgate/refusal"
)

// Shopify is the name of Shopify's scheme: X-Shopify-Hmac-Sha256: <base64
// HMAC-SHA256 of the raw body> under the app's client secret, the event
// type (topic, "orders/create") in X-Shopify-Topic, which the signature
// does not cover. Shopify signs no time and no id (X-Shopify-Webhook-Id is
// not signed) and a retry resends the identical body: the default key is
// the body's SHA-256. The body is forwarded as signed and not parsed.
const Shopify = "shopify"

func init() { Register(Shopify, nil, newShopify) }

// Shopify's headers (canonical).
var (
	shopifySignature = textproto.CanonicalMIMEHeaderKey("X-Shopify-Hmac-Sha256")
	shopifyTopic     = textproto.CanonicalMIMEHeaderKey("X-Shopify-Topic")
)

// shopifyBase64 is strict: unused bits of the last character must be zero,
// so that one signature has one spelling (Shopify's own libraries compare
// the base64 text).
var shopifyBase64 = base64.StdEncoding.Strict()

type shopify struct {
	keys *hmacKeys
}

func newShopify(c Config) (Scheme, error) {
	if err := noTimestamp(Shopify, c); err != nil {
		return nil, err
	}
	if err := CheckSharedSecrets(c.Secrets); err != nil {
		return nil, err
	}
	return &shopify{keys: newHMACKeys(c.Secrets)}, nil
}

// Verify checks the base64 HMAC of the raw body: one header line holding
// one value (standard base64 with its padding, canonical, as Shopify
// sends it).
func (s *shopify) Verify(r Request) (int, *refusal.Refusal) {
	lines := r.Header[shopifySignature]
	switch {
	case len(lines) == 0:
		return -1, ErrSigMissing
	case len(lines) > 1 || len(lines[0]) != base64.StdEncoding.EncodedLen(sha256.Size):
		return -1, ErrSigMalformed
	}
	// 44 base64 characters without padding decode to 33 bytes: the buffer
	// holds that much, and such a value is refused, not written past.
	var buf [sha256.Size + 1]byte
	var sig [1][sha256.Size]byte
	if n, err := shopifyBase64.Decode(buf[:], []byte(lines[0])); err != nil || n != sha256.Size {
		return -1, ErrSigMalformed
	}
	copy(sig[0][:], buf[:sha256.Size])
	idx := s.keys.match(sig[:], r.Body)
	if idx < 0 {
		return -1, ErrSigMismatch
	}
	return idx, nil
}

// Read takes the topic from X-Shopify-Topic: unsigned, so it is kept out
// of the default key, and the allowlist (events) reads a value anyone
// replaying the body could change.
func (s *shopify) Read(r Request) (ev Event, _ *refusal.Refusal) {
	typ, rf := eventHeader(r.Header, shopifyTopic)
	if rf != nil {
		return ev, rf
	}
	ev.Type, ev.UnsignedType = typ, true
	return ev, nil
}

// Identity: Shopify signs no id.
func (s *shopify) Identity(Event) (Field, bool) { return Field{}, false }

// Sign sets X-Shopify-Hmac-Sha256 for body, replacing every line of it.
func (s *shopify) Sign(h http.Header, i int, body []byte, _ time.Time) {
	var mac [sha256.Size]byte
	s.keys.sum(i, &mac, body)
	h[shopifySignature] = []string{base64.StdEncoding.EncodeToString(mac[:])}
}

func (s *shopify) SignatureHeaders() []string { return []string{shopifySignature} }

func (s *shopify) FieldNames() []string { return nil }

// EventHeader is the unsigned header that names the event type.
func (s *shopify) EventHeader() string { return shopifyTopic }
