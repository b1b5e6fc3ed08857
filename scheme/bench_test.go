package scheme_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/scheme"
)

// schemeBench is one scheme's signed 600-byte request: signer signs it
// (the same scheme, or for an Ed25519 scheme the private key's) and s
// verifies and reads it.
type schemeBench struct {
	name      string
	s, signer scheme.Scheme
	header    http.Header // what the provider sends besides the signature
	body      []byte
}

func schemeBenches(b *testing.B) []schemeBench {
	const shared = "bench-secret-0123456789abcdef012"
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(shared))
	v1a := newWithSecrets(b, scheme.Standard, 0, "whpk_"+base64.StdEncoding.EncodeToString(pub))
	discord := newWithSecrets(b, scheme.Discord, 0, hex.EncodeToString(pub))
	same := func(name string, secret string, h http.Header, typ string) schemeBench {
		s := newWithSecrets(b, name, 0, secret)
		return schemeBench{name, s, s, h, body600(typ)}
	}
	// ScreenshotCenter's event is the body's "event".
	sc := same(scheme.ScreenshotCenter, shared, http.Header{"X-Screenshotcenter-Event": {"screenshot.finished"}}, `"screenshot.finished"`)
	sc.body = bytes.Replace(sc.body, []byte(`{"type":`), []byte(`{"event":`), 1)
	return []schemeBench{
		sc,
		same(scheme.GitHub, shared, http.Header{"X-Github-Event": {"push"}}, `"push"`),
		same(scheme.Stripe, "whsec_"+shared, nil, `"payment_intent.succeeded"`),
		same(scheme.Shopify, shared, http.Header{"X-Shopify-Topic": {"orders/create"}}, `"orders/create"`),
		same(scheme.Standard, whsec, nil, `"contact.created"`),
		{"standard-v1a", v1a, newWithSecrets(b, scheme.Standard, 0, "whsk_"+base64.StdEncoding.EncodeToString(priv)), nil, body600(`"contact.created"`)},
		same(scheme.Slack, shared, http.Header{"Content-Type": {"application/json"}}, `"url_verification"`),
		{scheme.Discord, discord, newWithSecrets(b, scheme.Discord, 0, hex.EncodeToString(priv)), nil, body600("2")},
	}
}

// BenchmarkVerify600B: each scheme's Verify of a signed 600-byte body
// (the signature and, where the scheme signs one, the replay window).
// BenchmarkRead600B: its Read of the same request (the strict JSON
// reading of the body, or the unsigned event header).
func BenchmarkVerify600B(b *testing.B) { benchmarkSchemes(b, benchmarkVerify) }

func BenchmarkRead600B(b *testing.B) { benchmarkSchemes(b, benchmarkRead) }

func benchmarkSchemes(b *testing.B, run func(*testing.B, scheme.Scheme, http.Header, []byte, time.Time)) {
	now := time.Now()
	for _, sb := range schemeBenches(b) {
		h := sb.header.Clone()
		if h == nil {
			h = http.Header{}
		}
		sb.signer.Sign(h, 0, sb.body, now)
		b.Run(sb.name, func(b *testing.B) { run(b, sb.s, h, sb.body, now) })
	}
}
