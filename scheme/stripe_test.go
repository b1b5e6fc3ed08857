package scheme_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
)

// Stripe secrets are whsec_ strings, used as written (stripe-go does not
// decode them either).
const (
	stripeSecret    = "whsec_0123456789abcdef0123456789abcdef"
	stripeNewSecret = "whsec_fedcba9876543210fedcba9876543210"
)

func newStripe(t testing.TB, maxAge time.Duration, secrets ...string) scheme.Scheme {
	t.Helper()
	return newWithSecrets(t, scheme.Stripe, maxAge, secrets...)
}

// stripeSigned is body signed by stripe-go itself at t.
func stripeSigned(body []byte, secret string, t time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: t})
	return http.Header{"Stripe-Signature": {p.Header}}
}

// Requests stripe-go signs verify, with each secret; a tampered body, a
// wrong secret and a timestamp 10 minutes old do not.
func TestStripeVerifiesStripeGo(t *testing.T) {
	s := newStripe(t, 0, stripeSecret, stripeNewSecret)
	body := providerBody(t, "stripe/setup_intent.created.json")
	now := time.Unix(1_765_000_000, 0)
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)/2] ^= 0x20
	checkVerify(t, s, now, []verifyCase{
		{"first secret", stripeSigned(body, stripeSecret, now), body, 0, nil},
		{"second secret", stripeSigned(body, stripeNewSecret, now), body, 1, nil},
		{"4 minutes old", stripeSigned(body, stripeSecret, now.Add(-4*time.Minute)), body, 0, nil},
		{"tampered body", stripeSigned(body, stripeSecret, now), tampered, -1, scheme.ErrSigMismatch},
		{"wrong secret", stripeSigned(body, "whsec_another0123456789abcdef0123", now), body, -1, scheme.ErrSigMismatch},
		{"10 minutes old", stripeSigned(body, stripeSecret, now.Add(-10*time.Minute)), body, -1, scheme.ErrTimestampTooOld},
		{"10 minutes ahead", stripeSigned(body, stripeSecret, now.Add(10*time.Minute)), body, -1, scheme.ErrTimestampInFuture},
		{"no header", http.Header{}, body, -1, scheme.ErrSigMissing},
		{"no t", http.Header{"Stripe-Signature": {"v1=" + strings.Repeat("0", 64)}}, body, -1, scheme.ErrSigMalformed},
		{"only v0", http.Header{"Stripe-Signature": {"t=1765000000,v0=" + strings.Repeat("0", 64)}}, body, -1, scheme.ErrSigMalformed},
		{"two t", http.Header{"Stripe-Signature": {"t=1765000000,t=1765000001,v1=" + strings.Repeat("0", 64)}}, body, -1, scheme.ErrSigMalformed},
		{"not key=value", http.Header{"Stripe-Signature": {"t=1765000000,v1"}}, body, -1, scheme.ErrSigMalformed},
	})
}

// Several v1 values (Stripe sends one per secret while a secret is being
// rolled): any one that matches passes; v0 and unknown keys are ignored,
// as stripe-go ignores them.
func TestStripeSeveralSignatures(t *testing.T) {
	s := newStripe(t, 0, stripeNewSecret)
	body := []byte(`{"id":"evt_1","type":"charge.succeeded"}`)
	now := time.Unix(1_765_000_000, 0)
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: stripeNewSecret, Timestamp: now})
	v1 := p.Header[strings.Index(p.Header, "v1="):]
	header := "t=1765000000,v1=" + strings.Repeat("ab", 32) + "," + v1 + ",v0=" + strings.Repeat("cd", 32) + ",v1=nothex,scheme=x"
	if idx, rf := s.Verify(scheme.Request{Header: http.Header{"Stripe-Signature": {header}}, Body: body, Now: now}); idx != 0 || rf != nil {
		t.Fatalf("%s: %d %v", header, idx, rf)
	}
	if err := webhook.ValidatePayloadIgnoringTolerance(body, header, stripeNewSecret); err != nil {
		t.Fatalf("stripe-go refuses the same header: %v", err)
	}
}

// What scgate signs, stripe-go accepts: ConstructEvent reads the same
// event (its API version aside: the published sample is older than
// stripe-go's).
func TestStripeGoAcceptsSign(t *testing.T) {
	s := newStripe(t, 0, stripeSecret, stripeNewSecret)
	body := providerBody(t, "stripe/setup_intent.created.json")
	h := http.Header{}
	s.Sign(h, 1, body, time.Now())
	ev, err := webhook.ConstructEventWithOptions(body, h.Get("Stripe-Signature"), stripeNewSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		t.Fatalf("stripe-go refuses scgate's signature: %v", err)
	}
	if ev.ID != "evt_1NG8Du2eZvKYlo2CUI79vXWy" || ev.Type != "setup_intent.created" {
		t.Errorf("stripe-go read %s %s", ev.ID, ev.Type)
	}
	if err := webhook.ValidatePayload(body, h.Get("Stripe-Signature"), stripeSecret); err == nil {
		t.Error("stripe-go accepts the signature under the other secret")
	}
}

// Re-signing (reencode) keeps the verified request's t: the upstream sees
// Stripe's time, not the gateway's.
func TestStripeSignKeepsTheSignedTime(t *testing.T) {
	s := newStripe(t, time.Hour, stripeSecret)
	body := []byte(`{"id":"evt_1","type":"charge.succeeded"}`)
	signedAt := time.Unix(1_765_000_000, 0)
	h := stripeSigned([]byte(`{"id": "evt_1", "type": "charge.succeeded"}`), stripeSecret, signedAt)
	s.Sign(h, 0, body, signedAt.Add(30*time.Minute))
	if got := h.Get("Stripe-Signature"); !strings.HasPrefix(got, "t=1765000000,v1=") || len(h["Stripe-Signature"]) != 1 {
		t.Fatalf("re-signed header %q", h["Stripe-Signature"])
	}
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body, Now: signedAt.Add(31 * time.Minute)}); idx != 0 || rf != nil {
		t.Fatalf("Verify of the re-signed body: %d %v", idx, rf)
	}
}

func TestStripeRead(t *testing.T) {
	s := newStripe(t, 0, stripeSecret)
	now := time.Unix(1_765_000_000, 0)
	body := providerBody(t, "stripe/setup_intent.created.json")
	h := stripeSigned(body, stripeSecret, now)
	ev, rf := s.Read(scheme.Request{Header: h, Body: body, Now: now})
	if rf != nil {
		t.Fatal(rf)
	}
	if string(ev.Type) != "setup_intent.created" || ev.UnsignedType || !ev.Timestamp.Equal(now) {
		t.Fatalf("event %q unsigned=%v at %v", ev.Type, ev.UnsignedType, ev.Timestamp)
	}
	if id, ok := s.Identity(ev); !ok || id.Name != "id" || string(id.Value) != "evt_1NG8Du2eZvKYlo2CUI79vXWy" || id.Number {
		t.Fatalf("identity %+v %v", id, ok)
	}
	for _, tt := range []struct {
		name string
		body string
		want *refusal.Refusal
	}{
		{"no id", `{"type":"charge.succeeded"}`, scheme.ErrFieldMissing},
		{"empty type", `{"id":"evt_1","type":""}`, scheme.ErrFieldMissing},
		{"number id", `{"id":1,"type":"charge.succeeded"}`, nil},
		{"repeated id", `{"id":"evt_1","id":"evt_2","type":"t"}`, nil},
		{"id in another case", `{"id":"evt_1","ID":"evt_2","type":"t"}`, nil},
		{"escaped repeat", `{"id":"evt_1","\u0069d":"evt_2","type":"t"}`, nil},
		{"nested repeat", `{"id":"evt_1","type":"t","data":{"a":1,"a":2}}`, nil},
		{"object id", `{"id":{},"type":"t"}`, nil},
		{"array", `[{"id":"evt_1","type":"t"}]`, nil},
		{"two values", `{"id":"evt_1","type":"t"} {}`, nil},
		{"not UTF-8", "{\"id\":\"evt_\xff\",\"type\":\"t\"}", nil},
		{"too deep", `{"id":"evt_1","type":"t","d":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, nil},
	} {
		_, rf := s.Read(scheme.Request{Header: h, Body: []byte(tt.body), Now: now})
		switch {
		case tt.want != nil && rf != tt.want:
			t.Errorf("%s: %v, want %v", tt.name, rf, tt.want)
		case rf == nil || rf.Status != http.StatusBadRequest:
			t.Errorf("%s: %v, want a 400", tt.name, rf)
		}
	}
	for name, want := range map[string]string{
		`{"id":"evt_1","id":"evt_2","type":"t"}`:         "duplicate_key",
		`{"id":"evt_1","ID":"evt_2","type":"t"}`:         "ambiguous_key",
		`{"id":"evt_1","type":"t","data":{"a":1,"a":2}}`: "duplicate_key",
		`[{"id":"evt_1","type":"t"}]`:                    "body_not_object",
		"{\"id\":\"\xff\",\"type\":\"t\"}":               "body_invalid_utf8",
		`{"id":{},"type":"t"}`:                           "invalid_field",
	} {
		if _, rf := s.Read(scheme.Request{Header: h, Body: []byte(name), Now: now}); rf == nil || rf.Reason != want {
			t.Errorf("%s: %v, want %s", name, rf, want)
		}
	}
}

// A retry is signed anew a few seconds later: another header, the same
// event, the same identity.
func TestStripeRetryHasTheSameIdentity(t *testing.T) {
	s := newStripe(t, 0, stripeSecret)
	body := providerBody(t, "stripe/setup_intent.created.json")
	now := time.Unix(1_765_000_000, 0)
	var ids []string
	for _, at := range []time.Time{now, now.Add(7 * time.Second)} {
		r := scheme.Request{Header: stripeSigned(body, stripeSecret, at), Body: body, Now: at}
		if _, rf := s.Verify(r); rf != nil {
			t.Fatal(rf)
		}
		ev, rf := s.Read(r)
		if rf != nil {
			t.Fatal(rf)
		}
		id, _ := s.Identity(ev)
		ids = append(ids, string(ev.Type)+" "+string(id.Value))
	}
	if ids[0] != ids[1] {
		t.Errorf("a retry reads as %q, the first delivery as %q", ids[1], ids[0])
	}
}

func TestStripeSecrets(t *testing.T) {
	for secret, want := range map[string]string{
		"sk_test_0123456789abcdef0123456789": "secret 0 is not a Stripe webhook signing secret",
		"whsec_short":                        "secret 0 after whsec_ is shorter than 16 bytes",
		"0123456789abcdef0123456789abcdef":   "starts with whsec_",
	} {
		_, err := scheme.New(scheme.Stripe, scheme.Config{Secrets: [][]byte{[]byte(secret)}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", secret, err, want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}
