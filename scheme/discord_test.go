package scheme_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/runtimes"
	"github.com/scgate/scgate/scheme"
)

func newDiscord(t testing.TB, keys ...[]byte) scheme.Scheme {
	t.Helper()
	c := scheme.Config{}
	for _, k := range keys {
		c.Secrets = append(c.Secrets, []byte(hex.EncodeToString(k)))
	}
	return newScheme(t, scheme.Discord, c)
}

// discordSigned is body signed as Discord signs it, with Go's
// crypto/ed25519: the hex signature of the timestamp then the body.
func discordSigned(priv ed25519.PrivateKey, body []byte, at time.Time) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(priv, append([]byte(ts), body...))
	return http.Header{"X-Signature-Ed25519": {hex.EncodeToString(sig)}, "X-Signature-Timestamp": {ts}}
}

// discordInteractions runs Discord's own verifier, discord-interactions'
// verifyKey, in node, and node's crypto (OpenSSL) as a second signer: one
// JSON request a line, one answer a line, in order.
type discordInteractions struct{ p *runtimes.Process }

func startDiscordInteractions(t *testing.T) discordInteractions {
	t.Helper()
	modules := runtimes.NodeModules(t, filepath.Join("testdata", "discord-interactions"))
	lib, _ := json.Marshal(filepath.Join(modules, "discord-interactions"))
	script := `
const { verifyKey } = require(` + string(lib) + `);
const crypto = require('node:crypto');
const rl = require('node:readline').createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    const req = JSON.parse(line);
    const body = Buffer.from(req.body, 'base64');
    if (req.op === 'verify') {
      return String(await verifyKey(body, req.signature, req.timestamp, req.key));
    }
    const key = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: req.d, x: req.x }, format: 'jwk' });
    return crypto.sign(null, Buffer.concat([Buffer.from(req.timestamp), body]), key).toString('hex');
  }).catch((e) => 'error: ' + e.message).then((out) => { process.stdout.write(out + '\n'); });
});
`
	return discordInteractions{runtimes.Start(t, runtimes.Node(t), script)}
}

func (d discordInteractions) call(t *testing.T, req map[string]string) string {
	t.Helper()
	line, _ := json.Marshal(req)
	out, err := d.p.Call(line)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// verify is discord-interactions' verdict on a request.
func (d discordInteractions) verify(t *testing.T, h http.Header, body []byte, pub ed25519.PublicKey) bool {
	t.Helper()
	out := d.call(t, map[string]string{"op": "verify", "body": base64.StdEncoding.EncodeToString(body),
		"signature": h.Get("X-Signature-Ed25519"), "timestamp": h.Get("X-Signature-Timestamp"), "key": hex.EncodeToString(pub)})
	if out != "true" && out != "false" {
		t.Fatalf("discord-interactions: %s", out)
	}
	return out == "true"
}

// sign is node's crypto's signature of a request, as of at.
func (d discordInteractions) sign(t *testing.T, priv ed25519.PrivateKey, body []byte, at time.Time) http.Header {
	t.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	b64 := base64.RawURLEncoding.EncodeToString
	sig := d.call(t, map[string]string{"op": "sign", "body": base64.StdEncoding.EncodeToString(body), "timestamp": ts,
		"d": b64(priv.Seed()), "x": b64(priv.Public().(ed25519.PublicKey))})
	if len(sig) != 2*ed25519.SignatureSize {
		t.Fatalf("node's signature: %s", sig)
	}
	return http.Header{"X-Signature-Ed25519": {sig}, "X-Signature-Timestamp": {ts}}
}

// discordSamples are testdata's Discord bodies.
var discordSamples = []providerSample{
	{file: "discord/ping.json", typ: "1"},
	{file: "discord/application-command.json", typ: "2", id: "786008729715212338"},
	{file: "discord/application-authorized.json", typ: "APPLICATION_AUTHORIZED"},
}

// Every published payload signed as Discord signs it (crypto/ed25519, and
// node's crypto) verifies and reads as the event it is; the gateway's own
// signature (given a private key) is accepted by discord-interactions and
// crypto/ed25519; discord-interactions agrees on a tampered body.
func TestDiscordAgainstDiscordInteractions(t *testing.T) {
	di := startDiscordInteractions(t)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := newDiscord(t, otherPub, pub)
	signer := newDiscord(t, priv)
	for _, smp := range discordSamples {
		body := providerBody(t, smp.file)
		now := time.Now()
		for signedBy, h := range map[string]http.Header{
			"crypto/ed25519": discordSigned(priv, body, now.Add(-time.Minute)),
			"node":           di.sign(t, priv, body, now.Add(-time.Minute)),
		} {
			if !di.verify(t, h, body, pub) {
				t.Fatalf("%s: discord-interactions refuses the request signed by %s", smp.file, signedBy)
			}
			r := scheme.Request{Header: h, Body: body, Now: now}
			if idx, rf := s.Verify(r); idx != 1 || rf != nil {
				t.Fatalf("%s, signed by %s: Verify %d %v", smp.file, signedBy, idx, rf)
			}
			ev, rf := s.Read(r)
			if rf != nil || string(ev.Type) != smp.typ || ev.Timestamp.Unix() != now.Add(-time.Minute).Unix() {
				t.Fatalf("%s: read %q at %v, %v; want %q", smp.file, ev.Type, ev.Timestamp, rf, smp.typ)
			}
			id, ok := s.Identity(ev)
			if smp.id == "" && ok || smp.id != "" && (!ok || id.Name != "id" || string(id.Value) != smp.id) {
				t.Errorf("%s: identity %+v %v, want %q", smp.file, id, ok, smp.id)
			}
			tampered := append(bytes.Clone(body), ' ')
			if di.verify(t, h, tampered, pub) {
				t.Fatalf("%s: discord-interactions accepts a tampered body", smp.file)
			}
			if _, rf := s.Verify(scheme.Request{Header: h, Body: tampered, Now: now}); rf != scheme.ErrSigMismatch {
				t.Errorf("%s: tampered body: %v", smp.file, rf)
			}
		}

		h := http.Header{}
		signer.Sign(h, 0, body, now)
		if !di.verify(t, h, body, pub) {
			t.Errorf("%s: discord-interactions refuses the gateway's signature", smp.file)
		}
		sig, _ := hex.DecodeString(h.Get("X-Signature-Ed25519"))
		if !ed25519.Verify(pub, append([]byte(h.Get("X-Signature-Timestamp")), body...), sig) {
			t.Errorf("%s: crypto/ed25519 refuses the gateway's signature", smp.file)
		}
	}
}

func TestDiscordRefusals(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	s := newDiscord(t, pub)
	body := []byte(`{"type":2,"id":"786008729715212338"}`)
	now := time.Now()
	signed := func() http.Header { return discordSigned(priv, body, now) }
	with := func(name string, v ...string) http.Header { return withHeader(signed(), name, v...) }
	sig := signed().Get("X-Signature-Ed25519")
	checkVerify(t, s, now, []verifyCase{
		{"good", signed(), body, 0, nil},
		{"upper-case hex", with("X-Signature-Ed25519", strings.ToUpper(sig)), body, 0, nil},
		{"tampered body", signed(), []byte(`{"type":2,"id":"786008729715212339"}`), -1, scheme.ErrSigMismatch},
		{"wrong key", discordSigned(otherPriv, body, now), body, -1, scheme.ErrSigMismatch},
		{"10 minutes old", discordSigned(priv, body, now.Add(-10*time.Minute)), body, -1, scheme.ErrTimestampTooOld},
		{"10 minutes ahead", discordSigned(priv, body, now.Add(10*time.Minute)), body, -1, scheme.ErrTimestampInFuture},
		{"no signature", with("X-Signature-Ed25519"), body, -1, scheme.ErrSigMissing},
		{"no timestamp", with("X-Signature-Timestamp"), body, -1, scheme.ErrTimestampMissing},
		{"timestamp in milliseconds' text", with("X-Signature-Timestamp", "1.5"), body, -1, scheme.ErrTimestampInvalid},
		{"short", with("X-Signature-Ed25519", sig[:64]), body, -1, scheme.ErrSigMalformed},
		{"not hex", with("X-Signature-Ed25519", strings.Repeat("g", 128)), body, -1, scheme.ErrSigMalformed},
		{"two signatures", with("X-Signature-Ed25519", sig, sig), body, -1, scheme.ErrSigMalformed},
	})
	long := newDiscordMaxAge(t, time.Hour, pub)
	if _, rf := long.Verify(scheme.Request{Header: discordSigned(priv, body, now.Add(-10*time.Minute)), Body: body, Now: now}); rf != nil {
		t.Errorf("max_age 1h, 10 minutes old: %v", rf)
	}
}

func newDiscordMaxAge(t testing.TB, maxAge time.Duration, pub ed25519.PublicKey) scheme.Scheme {
	t.Helper()
	s, err := scheme.New(scheme.Discord, scheme.Config{Secrets: [][]byte{[]byte(hex.EncodeToString(pub))}, MaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiscordRead(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := newDiscord(t, pub)
	now := time.Now()
	for _, tt := range []struct {
		body string
		typ  string // or the refusal's reason
		id   string
	}{
		{`{"type":3,"id":123}`, "3", "123"},
		{`{"type":"a","id":"x"}`, "a", "x"},
		{`{"type":0,"version":1,"event":{"type":"ENTITLEMENT_CREATE"}}`, "ENTITLEMENT_CREATE", ""},
		{`{"type":1.5}`, "invalid_field", ""},
		{`{"type":1e2}`, "invalid_field", ""},
		{`{"type":null}`, "body_field_missing", ""},
		{`{"id":"1"}`, "body_field_missing", ""},
		{`{"type":1,"event":{}}`, "body_field_missing", ""},
		{`{"type":1,"event":"x"}`, "body_field_missing", ""},
		{`{"type":2,"ID":"1"}`, "ambiguous_key", ""},
		{`{"type":2,"id":"1","id":"2"}`, "duplicate_key", ""},
		{`{"type":2,"id":"1"`, "body_invalid_json", ""},
	} {
		body := []byte(tt.body)
		r := scheme.Request{Header: discordSigned(priv, body, now), Body: body, Now: now}
		if _, rf := s.Verify(r); rf != nil {
			t.Fatalf("%s: Verify %v", tt.body, rf)
		}
		ev, rf := s.Read(r)
		got := string(ev.Type)
		if rf != nil {
			got = rf.Reason
		}
		id, _ := s.Identity(ev)
		if got != tt.typ || string(id.Value) != tt.id {
			t.Errorf("%s: %s id %q, want %s id %q", tt.body, got, id.Value, tt.typ, tt.id)
		}
	}
	if ev := mustRead(t, s, priv, `{"type":2,"id":42}`, now); !ev.Fields()[1].Number {
		t.Error("a number id reads as a string")
	}
}

func mustRead(t *testing.T, s scheme.Scheme, priv ed25519.PrivateKey, body string, now time.Time) scheme.Event {
	t.Helper()
	ev, rf := s.Read(scheme.Request{Header: discordSigned(priv, []byte(body), now), Body: []byte(body), Now: now})
	if rf != nil {
		t.Fatal(rf)
	}
	return ev
}

// A public key verifies but cannot sign: Sign removes the signature, and
// CanSign says so; a private key's public half is checked.
func TestDiscordKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := newDiscord(t, pub, priv)
	if scheme.CanSign(s, 0) || !scheme.CanSign(s, 1) {
		t.Fatal("CanSign: a public key signs, or a private key does not")
	}
	h := discordSigned(priv, []byte(`{"type":1}`), time.Now())
	s.Sign(h, 0, []byte(`{"type":2}`), time.Now())
	if h.Get("X-Signature-Ed25519") != "" {
		t.Errorf("Sign with a public key left a signature: %v", h)
	}
	if !scheme.CanSign(newSC(t, 0), 0) {
		t.Error("ScreenshotCenter cannot sign")
	}
	bad := append(bytes.Clone(priv.Seed()), make([]byte, 32)...)
	for _, secret := range []string{hex.EncodeToString(pub[:31]), hex.EncodeToString(bad), "zz" + hex.EncodeToString(pub)[2:], "whpk_x"} {
		if _, err := scheme.New(scheme.Discord, scheme.Config{Secrets: [][]byte{[]byte(secret)}}); err == nil {
			t.Errorf("secret %q accepted", secret)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// FuzzDiscordTamper: a request signed with crypto/ed25519 as Discord signs
// it, with one byte of its body, timestamp or signature changed, never
// verifies.
func FuzzDiscordTamper(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1700000000, 0)
	s := newDiscord(f, priv.Public().(ed25519.PublicKey))
	fuzzTamper(f, tamperTarget{s: s, now: now, header: "X-Signature-Ed25519", signed: []string{"X-Signature-Timestamp"},
		sign: func(_ testing.TB, body []byte) http.Header { return discordSigned(priv, body, now) }},
		providerBody(f, "discord/application-command.json"))
}
