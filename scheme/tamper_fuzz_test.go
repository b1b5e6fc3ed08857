package scheme_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/scheme"
)

// The fuzz targets of the provider schemes: a request the scheme itself
// signed, with one byte of its body or of a signed header changed, never
// verifies. Each target's seeds are the provider's published sample.

// tamperTarget is one scheme's signed request to change.
type tamperTarget struct {
	s      scheme.Scheme
	now    time.Time
	header string // the signature header, whose bytes are changed
	// signed are the scheme's other signed headers (an id, a timestamp):
	// when the body is not changed, pos>>12 picks the header among header
	// and these.
	signed []string
	// sign signs body as the provider does (its own library); nil: the
	// scheme's own Sign with secret 0.
	sign func(tb testing.TB, body []byte) http.Header
}

// fuzzTamper checks that changing byte pos of the body (where true) or of
// a signed header to b never verifies; b equal to the byte there is no
// change and must verify.
func fuzzTamper(f *testing.F, tt tamperTarget, sample []byte) {
	f.Add(sample, true, uint16(0), byte('x'))
	f.Add(sample, false, uint16(3), byte('0'))
	f.Add([]byte(`{"id":"evt_1","type":"t"}`), false, uint16(40), byte('f'))
	for n := range tt.signed {
		f.Add(sample, false, uint16((n+1)<<12|(n+2)), byte('9'))
	}
	f.Fuzz(func(t *testing.T, body []byte, inBody bool, pos uint16, b byte) {
		var h http.Header
		if tt.sign != nil {
			h = tt.sign(t, body)
		} else {
			h = http.Header{}
			tt.s.Sign(h, 0, body, tt.now)
		}
		name := tt.header
		if n := int(pos>>12) % (1 + len(tt.signed)); n > 0 {
			name = tt.signed[n-1]
		}
		target := []byte(h.Get(name))
		if inBody {
			target = append([]byte(nil), body...)
		}
		if len(target) == 0 {
			return
		}
		i := int(pos) % len(target)
		changed := target[i] != b
		if !inBody && name == tt.header && changed && lower(target[i]) == lower(b) {
			// A hex digit or the sha256= prefix in another case: the same
			// MAC, which the parsers read case-insensitively by design.
			return
		}
		target[i] = b
		if inBody {
			body = target
		} else {
			h.Set(name, string(target))
		}
		_, rf := tt.s.Verify(scheme.Request{Header: h, Body: body, Now: tt.now})
		if changed && rf == nil {
			t.Fatalf("byte %d of the %s changed to %q still verifies", i, map[bool]string{true: "body", false: name}[inBody], b)
		}
		if !changed && rf != nil {
			t.Fatalf("the request as signed does not verify: %v", rf)
		}
	})
}

func FuzzGitHubTamper(f *testing.F) {
	s := newScheme(f, scheme.GitHub, scheme.Config{Secrets: [][]byte{oldSecret}})
	fuzzTamper(f, tamperTarget{s: s, header: "X-Hub-Signature-256"}, providerBody(f, "github/ping.json"))
}

func FuzzStripeTamper(f *testing.F) {
	s := newStripe(f, 0, stripeSecret)
	fuzzTamper(f, tamperTarget{s: s, now: time.Unix(1_765_000_000, 0), header: "Stripe-Signature"},
		providerBody(f, "stripe/setup_intent.created.json"))
}

func FuzzShopifyTamper(f *testing.F) {
	s := newScheme(f, scheme.Shopify, scheme.Config{Secrets: [][]byte{oldSecret}})
	fuzzTamper(f, tamperTarget{s: s, header: "X-Shopify-Hmac-Sha256"}, providerBody(f, "shopify/customers-redact.json"))
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
