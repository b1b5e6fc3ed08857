package scheme_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/scheme"
)

// shopifyHMAC is the HMAC Shopify's docs give: base64 of HMAC-SHA256 of
// the raw body under the app's client secret.
func shopifyHMAC(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestShopifyVerify(t *testing.T) {
	s := newScheme(t, scheme.Shopify, scheme.Config{Secrets: [][]byte{oldSecret, newSecret}})
	body := providerBody(t, "shopify/customers-redact.json")
	tampered := append([]byte(nil), body...)
	tampered[3] ^= 1
	sig := func(secret, body []byte) http.Header {
		return http.Header{"X-Shopify-Hmac-Sha256": {shopifyHMAC(secret, body)}}
	}
	checkVerify(t, s, time.Time{}, []verifyCase{
		{"old secret", sig(oldSecret, body), body, 0, nil},
		{"new secret", sig(newSecret, body), body, 1, nil},
		{"tampered body", sig(newSecret, body), tampered, -1, scheme.ErrSigMismatch},
		{"wrong secret", sig([]byte("another-secret-0123456"), body), body, -1, scheme.ErrSigMismatch},
		{"missing", http.Header{}, body, -1, scheme.ErrSigMissing},
		{"hex instead of base64", http.Header{"X-Shopify-Hmac-Sha256": {strings.Repeat("0", 64)}}, body, -1, scheme.ErrSigMalformed},
		{"unpadded", http.Header{"X-Shopify-Hmac-Sha256": {strings.TrimRight(shopifyHMAC(oldSecret, body), "=")}}, body, -1, scheme.ErrSigMalformed},
		// Found by FuzzShopifyTamper: 44 characters that decode to 33 bytes
		// made Verify write past its buffer (a panic).
		{"44 characters without padding", http.Header{"X-Shopify-Hmac-Sha256": {strings.Repeat("0", 44)}}, body, -1, scheme.ErrSigMalformed},
		// Found by FuzzShopifyTamper: the last character's unused bits
		// changed spell the same MAC; only the canonical spelling passes.
		{"non-canonical base64", http.Header{"X-Shopify-Hmac-Sha256": {nonCanonical(shopifyHMAC(oldSecret, body))}}, body, -1, scheme.ErrSigMalformed},
		{"two lines", http.Header{"X-Shopify-Hmac-Sha256": {shopifyHMAC(oldSecret, body), shopifyHMAC(oldSecret, body)}}, body, -1, scheme.ErrSigMalformed},
	})
	h := http.Header{}
	s.Sign(h, 1, body, time.Time{})
	if got, want := h.Get("X-Shopify-Hmac-Sha256"), shopifyHMAC(newSecret, body); got != want {
		t.Errorf("Sign = %q, want Shopify's %q", got, want)
	}
}

func TestShopifyRead(t *testing.T) {
	s := newScheme(t, scheme.Shopify, scheme.Config{Secrets: [][]byte{oldSecret}})
	body := providerBody(t, "shopify/customers-redact.json")
	ev, rf := s.Read(scheme.Request{Header: http.Header{"X-Shopify-Topic": {"customers/redact"}}, Body: body})
	if rf != nil || string(ev.Type) != "customers/redact" || !ev.UnsignedType {
		t.Fatalf("Read: %q unsigned=%v %v", ev.Type, ev.UnsignedType, rf)
	}
	if _, ok := s.Identity(ev); ok {
		t.Error("Shopify has an identity: it signs no id")
	}
	if _, rf := s.Read(scheme.Request{Header: http.Header{}, Body: body}); rf != scheme.ErrEventHeaderMissing {
		t.Errorf("no topic: %v", rf)
	}
}

// nonCanonical spells a padded base64 value of 32 bytes differently: the
// last character before the padding with its two unused bits set.
func nonCanonical(b64 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(alphabet, b64[42])
	return b64[:42] + string(alphabet[last|3]) + b64[43:]
}
