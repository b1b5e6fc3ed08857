package scheme_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
)

// providerBody is a provider's published sample body in testdata/ (see
// testdata/SOURCES.md).
func providerBody(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyCase is one request for a scheme's Verify and what it must say.
type verifyCase struct {
	name   string
	header http.Header
	body   []byte
	index  int
	want   *refusal.Refusal
}

func checkVerify(t *testing.T, s scheme.Scheme, now time.Time, cases []verifyCase) {
	t.Helper()
	for _, tt := range cases {
		idx, rf := s.Verify(scheme.Request{Header: tt.header, Body: tt.body, Now: now})
		if idx != tt.index || rf != tt.want {
			t.Errorf("%s: %d %v, want %d %v", tt.name, idx, rf, tt.index, tt.want)
		}
	}
}

func newScheme(t testing.TB, name string, c scheme.Config) scheme.Scheme {
	t.Helper()
	s, err := scheme.New(name, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// GitHub's published test vector (github/docs, "Validating webhook
// deliveries") verifies, and signs to the published value.
func TestGitHubPublishedTestVector(t *testing.T) {
	const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	s := newScheme(t, scheme.GitHub, scheme.Config{Secrets: [][]byte{[]byte("It's a Secret to Everybody")}})
	body := []byte("Hello, World!")
	h := http.Header{"X-Hub-Signature-256": {sig}}
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body}); idx != 0 || rf != nil {
		t.Fatalf("GitHub's test vector: %d %v", idx, rf)
	}
	signed := http.Header{}
	s.Sign(signed, 0, body, time.Time{})
	if got := signed.Get("X-Hub-Signature-256"); got != sig {
		t.Fatalf("Sign = %q, want GitHub's %q", got, sig)
	}
}

func TestGitHubVerify(t *testing.T) {
	s := newScheme(t, scheme.GitHub, scheme.Config{Secrets: [][]byte{oldSecret, newSecret}})
	body := providerBody(t, "github/ping.json")
	sign := func(secret, body []byte) http.Header {
		h := http.Header{}
		newScheme(t, scheme.GitHub, scheme.Config{Secrets: [][]byte{secret}}).Sign(h, 0, body, time.Time{})
		return h
	}
	tampered := append([]byte(nil), body...)
	tampered[10] ^= 1
	checkVerify(t, s, time.Time{}, []verifyCase{
		{"old secret", sign(oldSecret, body), body, 0, nil},
		{"new secret", sign(newSecret, body), body, 1, nil},
		{"tampered body", sign(newSecret, body), tampered, -1, scheme.ErrSigMismatch},
		{"wrong secret", sign([]byte("another-secret-0123456"), body), body, -1, scheme.ErrSigMismatch},
		{"no signature", http.Header{}, body, -1, scheme.ErrSigMissing},
		{"only the SHA-1 header", http.Header{"X-Hub-Signature": {"sha1=" + strings.Repeat("0", 40)}}, body, -1, scheme.ErrSigMissing},
		{"not hex", http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("z", 64)}}, body, -1, scheme.ErrSigMalformed},
	})
}

// The event type is X-GitHub-Event, unsigned: it is marked so (the
// default key leaves it out) and must be one plain token.
func TestGitHubRead(t *testing.T) {
	s := newScheme(t, scheme.GitHub, scheme.Config{Secrets: [][]byte{oldSecret}})
	body := providerBody(t, "github/ping.json")
	ev, rf := s.Read(scheme.Request{Header: http.Header{"X-Github-Event": {"ping"}}, Body: body})
	if rf != nil || string(ev.Type) != "ping" || !ev.UnsignedType {
		t.Fatalf("Read: %q unsigned=%v %v", ev.Type, ev.UnsignedType, rf)
	}
	if _, ok := s.Identity(ev); ok {
		t.Error("GitHub has an identity: it signs no id")
	}
	for _, tt := range []struct {
		name  string
		lines []string
		want  *refusal.Refusal
	}{
		{"missing", nil, scheme.ErrEventHeaderMissing},
		{"empty", []string{""}, scheme.ErrEventHeaderInvalid},
		{"repeated", []string{"push", "ping"}, scheme.ErrEventHeaderInvalid},
		{"with a space", []string{"pu sh"}, scheme.ErrEventHeaderInvalid},
	} {
		h := http.Header{}
		if tt.lines != nil {
			h["X-Github-Event"] = tt.lines
		}
		if _, rf := s.Read(scheme.Request{Header: h, Body: body}); rf != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, rf, tt.want)
		}
	}
}

// A re-signed body gets both GitHub signatures again when the request had
// both: no stale SHA-1 signature travels with it.
func TestGitHubSignReplacesBothSignatures(t *testing.T) {
	s := newScheme(t, scheme.GitHub, scheme.Config{Secrets: [][]byte{oldSecret, newSecret}})
	body := []byte(`{"zen":"x"}`)
	h := http.Header{"X-Hub-Signature-256": {"sha256=00", "x"}, "X-Hub-Signature": {"sha1=00"}}
	s.Sign(h, 1, body, time.Time{})
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body}); idx != 1 || rf != nil {
		t.Fatalf("Verify after Sign: %d %v", idx, rf)
	}
	m := hmac.New(sha1.New, newSecret)
	m.Write(body)
	if got, want := h["X-Hub-Signature"], "sha1="+hex.EncodeToString(m.Sum(nil)); len(got) != 1 || got[0] != want {
		t.Errorf("X-Hub-Signature = %q, want [%s]", got, want)
	}
	plain := http.Header{}
	s.Sign(plain, 0, body, time.Time{})
	if _, ok := plain["X-Hub-Signature"]; ok {
		t.Error("Sign added the legacy SHA-1 header to a request without it")
	}
}

// The secret rules and the options GitHub does not take.
func TestSchemesWithoutTimestampRefuseMaxAge(t *testing.T) {
	for _, name := range []string{scheme.GitHub, scheme.Shopify} {
		_, err := scheme.New(name, scheme.Config{Secrets: [][]byte{oldSecret}, MaxAge: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "signs no timestamp") {
			t.Errorf("%s with max_age: %v", name, err)
		}
		_, err = scheme.New(name, scheme.Config{Secrets: [][]byte{oldSecret, []byte("hunter2")}})
		if err == nil || !strings.Contains(err.Error(), "secret 1 is shorter than 16 bytes") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s with a short secret: %v", name, err)
		}
	}
}
