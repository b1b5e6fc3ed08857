package scheme_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/scheme"
)

// body600 is a 600-byte JSON event that every scheme here can read: a
// ScreenshotCenter event, a Stripe event (id, type) and a GitHub or
// Shopify body alike.
func body600(tb testing.TB) []byte {
	head := `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"screenshot.finished","event":"screenshot.finished","screenshot_id":"sc_1","object":"event","data":{"note":"`
	tail := `"}}`
	b := []byte(head + strings.Repeat("x", 600-len(head)-len(tail)) + tail)
	if len(b) != 600 {
		tb.Fatalf("body of %d bytes", len(b))
	}
	return b
}

// benchSchemes are the schemes of this file, each with its secret, the
// request it signed, and the event header it needs.
func benchSchemes(b *testing.B, body []byte, now time.Time) map[string]scheme.Request {
	reqs := map[string]scheme.Request{}
	for name, c := range map[string]struct {
		secret      string
		eventHeader string
	}{
		scheme.ScreenshotCenter: {string(oldSecret), "X-Screenshotcenter-Event"},
		scheme.GitHub:           {string(oldSecret), "X-Github-Event"},
		scheme.Stripe:           {stripeSecret, ""},
		scheme.Shopify:          {string(oldSecret), "X-Shopify-Topic"},
	} {
		s := newScheme(b, name, scheme.Config{Secrets: [][]byte{[]byte(c.secret)}})
		h := http.Header{}
		s.Sign(h, 0, body, now)
		if c.eventHeader != "" {
			h.Set(c.eventHeader, "screenshot.finished")
		}
		reqs[name] = scheme.Request{Header: h, Body: body, Now: now}
	}
	return reqs
}

// BenchmarkVerify600B is the signature check of each scheme on a 600-byte
// body (what every request pays, signed or not); BenchmarkVerifyRead600B
// adds reading the verified request (the body's fields, or the event
// header).
func BenchmarkVerify600B(b *testing.B) { benchSchemesRun(b, false) }

func BenchmarkVerifyRead600B(b *testing.B) { benchSchemesRun(b, true) }

func benchSchemesRun(b *testing.B, read bool) {
	body := body600(b)
	now := time.Unix(1_765_000_000, 0)
	reqs := benchSchemes(b, body, now)
	for _, name := range []string{scheme.ScreenshotCenter, scheme.GitHub, scheme.Stripe, scheme.Shopify} {
		s := newSchemeFor(b, name)
		r := reqs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, rf := s.Verify(r); rf != nil {
					b.Fatal(rf)
				}
				if read {
					if _, rf := s.Read(r); rf != nil {
						b.Fatal(fmt.Errorf("%s: %w", name, rf))
					}
				}
			}
		})
	}
}

func newSchemeFor(b *testing.B, name string) scheme.Scheme {
	secret := string(oldSecret)
	if name == scheme.Stripe {
		secret = stripeSecret
	}
	return newScheme(b, name, scheme.Config{Secrets: [][]byte{[]byte(secret)}})
}
