package scheme_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/scgate/scgate/scheme"
)

// Two shared secrets of Standard Webhooks' format: the specification's
// test secret, and another of 32 bytes.
const (
	standardSecret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardOtherSecret = "whsec_c2NnYXRlLXNlY29uZC1zZWNyZXQtMzItYnl0ZXM="
)

func newStandard(t testing.TB, maxAge time.Duration, secrets ...string) scheme.Scheme {
	t.Helper()
	return newWithSecrets(t, scheme.Standard, maxAge, secrets...)
}

// libSigned is a request signed by the Standard Webhooks reference
// library, with the webhook- headers.
func libSigned(t testing.TB, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return signedBy(t, wh, "webhook-", id, at, body)
}

// svixSigned is a request signed by svix-go, with the svix- headers as
// Svix (and Clerk) send them.
func svixSigned(t testing.TB, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return signedBy(t, wh, "svix-", id, at, body)
}

func signedBy(t testing.TB, wh interface {
	Sign(string, time.Time, []byte) (string, error)
}, family, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(family+"id", id)
	h.Set(family+"timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set(family+"signature", sig)
	return h
}

// The Standard Webhooks test vector (testdata/SOURCES.md) verifies as of
// its own time, with the secret that signed it second in the list.
func TestStandardTestVector(t *testing.T) {
	h := http.Header{"Webhook-Id": {"msg_p5jXN8AQM9LWM0D4loKWxJek"}, "Webhook-Timestamp": {"1614265330"},
		"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}}
	s := newStandard(t, 0, standardOtherSecret, standardSecret)
	r := scheme.Request{Header: h, Body: []byte(`{"test": 2432232314}`), Now: time.Unix(1614265330, 0)}
	if idx, rf := s.Verify(r); idx != 1 || rf != nil {
		t.Errorf("the test vector: %d %v, want secret 1", idx, rf)
	}
}

// standardSamples are testdata's Standard Webhooks bodies.
var standardSamples = []providerSample{
	{file: "standard/contact.created.json", typ: "contact.created"},
	{file: "standard/example.event.json", typ: "example.event"},
}

// Every published payload, signed by the reference library and by
// svix-go, verifies and reads as the provider's event; the gateway's own
// signature is accepted by both libraries' verifiers.
func TestStandardAgainstTheLibraries(t *testing.T) {
	s := newStandard(t, 0, standardOtherSecret, standardSecret)
	for _, smp := range standardSamples {
		body := providerBody(t, smp.file)
		now := time.Now()
		for family, h := range map[string]http.Header{
			"webhook-": libSigned(t, standardSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now.Add(-time.Minute), body),
			"svix-":    svixSigned(t, standardSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now.Add(-time.Minute), body),
		} {
			r := scheme.Request{Header: h, Body: body, Now: now}
			if idx, rf := s.Verify(r); idx != 1 || rf != nil {
				t.Fatalf("%s, %s headers: Verify %d %v", smp.file, family, idx, rf)
			}
			ev, rf := s.Read(r)
			if rf != nil {
				t.Fatalf("%s, %s headers: Read %v", smp.file, family, rf)
			}
			if string(ev.Type) != smp.typ || ev.Timestamp.Unix() != now.Add(-time.Minute).Unix() {
				t.Errorf("%s: event %q at %v", smp.file, ev.Type, ev.Timestamp)
			}
			if id, ok := s.Identity(ev); !ok || id.Name != "webhook_id" || string(id.Value) != "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" {
				t.Errorf("%s: identity %+v %v", smp.file, id, ok)
			}
		}

		// The gateway signs; the libraries verify (each with its own
		// clock and 5-minute tolerance).
		for i, secret := range []string{standardOtherSecret, standardSecret} {
			h := http.Header{}
			s.Sign(h, i, body, time.Now())
			wh, _ := standardwebhooks.NewWebhook(secret)
			if err := wh.Verify(body, h); err != nil {
				t.Errorf("%s: the reference library refuses the gateway's signature with secret %d: %v", smp.file, i, err)
			}
			sv, _ := svix.NewWebhook(secret)
			if err := sv.Verify(body, h); err != nil {
				t.Errorf("%s: svix-go refuses the gateway's signature with secret %d: %v", smp.file, i, err)
			}
			// With svix- headers, the gateway re-signs in that family.
			h = svixSigned(t, standardSecret, "msg_x", time.Now(), body)
			s.Sign(h, i, body, time.Now())
			if err := sv.Verify(body, h); err != nil || h.Get("webhook-signature") != "" {
				t.Errorf("%s: re-signed svix- headers: %v (webhook-signature %q)", smp.file, err, h.Get("webhook-signature"))
			}
		}
	}
}

// Sign keeps the id and timestamp a request carries (a re-signed body is
// the same message), and the result verifies.
func TestStandardSignKeepsIDAndTimestamp(t *testing.T) {
	s := newStandard(t, 0, standardSecret)
	body := []byte(`{"type":"a"}`)
	at := time.Now().Add(-2 * time.Minute)
	h := libSigned(t, standardSecret, "msg_keep", at, []byte(`{"type":"old"}`))
	s.Sign(h, 0, body, time.Now())
	if h.Get("webhook-id") != "msg_keep" || h.Get("webhook-timestamp") != strconv.FormatInt(at.Unix(), 10) {
		t.Fatalf("headers after Sign: %v", h)
	}
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body, Now: time.Now()}); idx != 0 || rf != nil {
		t.Fatalf("Verify after Sign: %d %v", idx, rf)
	}
	h = http.Header{}
	s.Sign(h, 0, body, time.Now())
	if !strings.HasPrefix(h.Get("webhook-id"), "msg_") || h.Get("webhook-timestamp") == "" {
		t.Fatalf("Sign of a bare request: %v", h)
	}
}

func TestStandardRefusals(t *testing.T) {
	s := newStandard(t, 0, standardSecret)
	body := []byte(`{"type":"contact.created"}`)
	now := time.Now()
	fresh := func() http.Header { return libSigned(t, standardSecret, "msg_1", now, body) }
	with := withHeader
	both := fresh()
	for k, v := range svixSigned(t, standardSecret, "msg_2", now, body) {
		both[k] = v
	}
	same := fresh()
	for _, n := range []string{"id", "timestamp", "signature"} {
		same.Set("svix-"+n, same.Get("webhook-"+n))
	}
	rotated := fresh()
	sig := rotated.Get("webhook-signature")
	rotated.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))+" v2,whatever "+sig)
	checkVerify(t, s, now, []verifyCase{
		{"good", fresh(), body, 0, nil},
		{"same values in both families", same, body, 0, nil},
		{"old secret's signature first, unknown version passed over", rotated, body, 0, nil},
		{"tampered body", fresh(), []byte(`{"type":"contact.deleted"}`), -1, scheme.ErrSigMismatch},
		{"wrong secret", libSigned(t, standardOtherSecret, "msg_1", now, body), body, -1, scheme.ErrSigMismatch},
		{"10 minutes old", libSigned(t, standardSecret, "msg_1", now.Add(-10*time.Minute), body), body, -1, scheme.ErrTimestampTooOld},
		{"10 minutes ahead", libSigned(t, standardSecret, "msg_1", now.Add(10*time.Minute), body), body, -1, scheme.ErrTimestampInFuture},
		{"no signature", with(fresh(), "webhook-signature"), body, -1, scheme.ErrSigMissing},
		{"no id", with(fresh(), "webhook-id"), body, -1, scheme.ErrWebhookIDInvalid},
		{"id with a dot", with(fresh(), "webhook-id", "msg.1"), body, -1, scheme.ErrWebhookIDInvalid},
		{"two ids", with(fresh(), "webhook-id", "msg_1", "msg_1"), body, -1, scheme.ErrWebhookIDInvalid},
		{"no timestamp", with(fresh(), "webhook-timestamp"), body, -1, scheme.ErrTimestampMissing},
		{"timestamp with a fraction", with(fresh(), "webhook-timestamp", strconv.FormatInt(now.Unix(), 10)+".5"), body, -1, scheme.ErrTimestampInvalid},
		{"two signature lines", with(fresh(), "webhook-signature", sig, sig), body, -1, scheme.ErrSigMalformed},
		{"not base64", with(fresh(), "webhook-signature", "v1,not-base64"), body, -1, scheme.ErrSigMalformed},
		{"hex", with(fresh(), "webhook-signature", "v1,"+strings.Repeat("ab", 32)), body, -1, scheme.ErrSigMalformed},
		{"only unknown versions", with(fresh(), "webhook-signature", "v2,"+sig[3:]), body, -1, scheme.ErrSigMalformed},
		{"too many signatures", with(fresh(), "webhook-signature", strings.Repeat(sig+" ", 9)), body, -1, scheme.ErrSigMalformed},
		{"families differ", both, body, -1, scheme.ErrStandardHeadersClash},
	})
}

// Read refuses a signed body that is not a JSON object with a string
// "type", with the receiver's strict JSON rules.
func TestStandardReadRefusals(t *testing.T) {
	s := newStandard(t, 0, standardSecret)
	now := time.Now()
	for _, tt := range []struct {
		body string
		want string
	}{
		{`{"type":"a","data":{"x":1,"x":2}}`, "duplicate_key"},
		{`{"type":"a","\u0074ype":"b"}`, "duplicate_key"},
		{`{"type":"a","TYPE":"b"}`, "ambiguous_key"},
		{`{"type":"a","\ud800":1}`, "ambiguous_key"},
		{`{"type":"a\udc00"}`, "invalid_field"},
		{`{"data":{}}`, "body_field_missing"},
		{`{"type":""}`, "body_field_missing"},
		{`{"type":null}`, "body_field_missing"},
		{`{"type":1}`, "invalid_field"},
		{`{"type":{}}`, "invalid_field"},
		{`{"type":"a"} {}`, "body_invalid_json"},
		{`{"type":"a",}`, "body_invalid_json"},
		{`["type"]`, "body_not_object"},
		{"{\"type\":\"\xff\"}", "body_invalid_utf8"},
		{`{"type":"a","d":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, "body_too_deep"},
	} {
		body := []byte(tt.body)
		r := scheme.Request{Header: libSigned(t, standardSecret, "msg_1", now, body), Body: body, Now: now}
		if _, rf := s.Verify(r); rf != nil {
			t.Fatalf("%s: Verify: %v", tt.body, rf)
		}
		if _, rf := s.Read(r); rf == nil || rf.Reason != tt.want {
			t.Errorf("%s: Read %v, want %s", tt.body, rf, tt.want)
		}
	}
	body := []byte(`{"type":"a\ud83d\ude00","data":{"\ud83d\ude00":[1,2,{"type":3}]}}`)
	r := scheme.Request{Header: libSigned(t, standardSecret, "msg_1", now, body), Body: body, Now: now}
	if ev, rf := s.Read(r); rf != nil || string(ev.Type) != "a😀" {
		t.Errorf("a surrogate pair: %q %v", ev.Type, rf)
	}
}

// v1a: an Ed25519 signature made with Go's crypto/ed25519 verifies with
// the whpk_ public key; a whsk_ private key signs and verifies; a public
// key cannot sign.
func TestStandardEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	whpk := "whpk_" + base64.StdEncoding.EncodeToString(pub)
	whsk := "whsk_" + base64.StdEncoding.EncodeToString(priv)
	body := []byte(`{"type":"invoice.paid"}`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := ed25519.Sign(priv, []byte("msg_1."+ts+"."+string(body)))
	h := http.Header{"Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {ts},
		"Webhook-Signature": {"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a," + base64.StdEncoding.EncodeToString(sig)}}
	s := newStandard(t, 0, standardSecret, whpk)
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body, Now: now}); idx != 1 || rf != nil {
		t.Fatalf("v1a with whpk_: %d %v", idx, rf)
	}
	if _, rf := s.Verify(scheme.Request{Header: h, Body: []byte(`{"type":"invoice.void"}`), Now: now}); rf != scheme.ErrSigMismatch {
		t.Fatalf("v1a, tampered body: %v", rf)
	}
	if scheme.CanSign(s, 1) || !scheme.CanSign(s, 0) {
		t.Error("CanSign: a whpk_ key signs, or a whsec_ secret does not")
	}
	s.Sign(h, 1, body, now)
	if h.Get("webhook-signature") != "" {
		t.Errorf("Sign with a public key left a signature: %v", h)
	}

	signer := newStandard(t, 0, whsk)
	if !scheme.CanSign(signer, 0) {
		t.Fatal("a whsk_ key cannot sign")
	}
	h = http.Header{}
	signer.Sign(h, 0, body, now)
	v, ok := strings.CutPrefix(h.Get("webhook-signature"), "v1a,")
	sig, _ = base64.StdEncoding.DecodeString(v)
	msg := h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)
	if !ok || !ed25519.Verify(pub, []byte(msg), sig) {
		t.Fatalf("crypto/ed25519 refuses the gateway's v1a signature: %v", h)
	}
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body, Now: now}); idx != 1 || rf != nil {
		t.Fatalf("the whpk_ key refuses the whsk_ key's signature: %d %v", idx, rf)
	}
	seed := "whsk_" + base64.StdEncoding.EncodeToString(priv.Seed())
	if _, err := scheme.New(scheme.Standard, scheme.Config{Secrets: [][]byte{[]byte(seed)}}); err != nil {
		t.Errorf("a whsk_ seed: %v", err)
	}
}

func TestStandardSecretFormats(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	bad := []string{
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",                             // no prefix
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), // too short
		"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), // too long
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",                        // not base64
		"whpk_" + base64.StdEncoding.EncodeToString(pub[:31]),
		"whsk_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 64)), // public half wrong
	}
	for _, secret := range bad {
		if _, err := scheme.New(scheme.Standard, scheme.Config{Secrets: [][]byte{[]byte(secret)}}); err == nil {
			t.Errorf("secret %q accepted", secret)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	if _, err := scheme.New(scheme.Standard, scheme.Config{Secrets: [][]byte{[]byte(standardSecret)}, SignatureHeaders: []string{"X-Sig"}}); err == nil {
		t.Error("signature_header accepted")
	}
}

// FuzzStandardTamper: a request signed by the reference library with one
// byte of its body, id, timestamp or signature changed never verifies.
func FuzzStandardTamper(f *testing.F) {
	now := time.Unix(1674087231, 0)
	s := newStandard(f, 0, standardSecret)
	fuzzTamper(f, tamperTarget{s: s, now: now, header: "webhook-signature", signed: []string{"webhook-id", "webhook-timestamp"},
		sign: func(t testing.TB, body []byte) http.Header {
			return libSigned(t, standardSecret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, body)
		}}, providerBody(f, "standard/contact.created.json"))
}
