package scheme_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
)

// providerSample is one of testdata's published bodies (SOURCES.md) and
// what the gateway reads from it.
type providerSample struct {
	file        string // under testdata/
	contentType string // as the provider sends it
	typ         string // the event type read
	id          string // the identity (Slack: the event_id field); "" when none
}

// withHeader is h with name set to the lines v, or removed without v.
func withHeader(h http.Header, name string, v ...string) http.Header {
	if v == nil {
		h.Del(name)
	} else {
		h[http.CanonicalHeaderKey(name)] = v
	}
	return h
}

func benchmarkVerify(b *testing.B, s scheme.Scheme, h http.Header, body []byte, now time.Time) {
	benchmarkRequest(b, h, body, now, func(r scheme.Request) *refusal.Refusal { _, rf := s.Verify(r); return rf })
}

func benchmarkRead(b *testing.B, s scheme.Scheme, h http.Header, body []byte, now time.Time) {
	benchmarkRequest(b, h, body, now, func(r scheme.Request) *refusal.Refusal { _, rf := s.Read(r); return rf })
}

// benchmarkRequest measures step on one request, which it must pass.
func benchmarkRequest(b *testing.B, h http.Header, body []byte, now time.Time, step func(scheme.Request) *refusal.Refusal) {
	r := scheme.Request{Header: h, Body: body, Now: now}
	if rf := step(r); rf != nil {
		b.Fatal(rf)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if rf := step(r); rf != nil {
			b.Fatal(rf)
		}
	}
}

// newWithSecrets builds the scheme name from secrets (as configured) and
// maxAge.
func newWithSecrets(t testing.TB, name string, maxAge time.Duration, secrets ...string) scheme.Scheme {
	t.Helper()
	c := scheme.Config{MaxAge: maxAge}
	for _, s := range secrets {
		c.Secrets = append(c.Secrets, []byte(s))
	}
	return newScheme(t, name, c)
}

// body600 is a 600-byte JSON event of the shape providers send (an id, a
// timestamp, nested objects and arrays), with the event type typ (JSON
// text).
func body600(typ string) []byte {
	b := []byte(`{"type":` + typ + `,"id":"786008729715212338","timestamp":"2022-11-03T20:26:10.344522Z",` +
		`"data":{"user":{"id":"53908232506183680","username":"Mason","roles":["539082325061836999"],"bot":false},` +
		`"options":[{"type":3,"name":"cardname","value":"The Gitrog Monster"}],"flags":0,"note":"`)
	tail := []byte(`"}}`)
	return append(append(b, bytes.Repeat([]byte("x"), 600-len(b)-len(tail))...), tail...)
}
