package scheme_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
)

// sample is a provider's published payload in testdata/<scheme>/: the body
// as the provider documents it and, where the provider publishes one, a
// secret with the signed headers it gives for that body.
type sample struct {
	Name    string
	Source  string            `json:"source"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
	// ContentType is the Content-Type the provider sends it with.
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
	// Type is the event type the gateway reads from it; empty when the
	// body has none.
	Type string `json:"type"`
	// ID is the identity the gateway reads from it, if any.
	ID string `json:"id"`
}

// header returns the sample's published headers (nil when it has none).
func (s sample) header() http.Header {
	if s.Headers == nil {
		return nil
	}
	h := http.Header{}
	for k, v := range s.Headers {
		h.Set(k, v)
	}
	return h
}

func samples(t testing.TB, scheme string) []sample {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", scheme, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples for %s: %v", scheme, err)
	}
	var out []sample
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var s sample
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		s.Name = strings.TrimSuffix(filepath.Base(p), ".json")
		out = append(out, s)
	}
	return out
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

// verifyCase is a request and what Verify answers it: want, or (want nil)
// the match of secret 0.
type verifyCase struct {
	name   string
	header http.Header
	body   string
	want   *refusal.Refusal
}

func checkVerify(t *testing.T, s scheme.Scheme, now time.Time, cases []verifyCase) {
	t.Helper()
	for _, tt := range cases {
		idx, rf := s.Verify(scheme.Request{Header: tt.header, Body: []byte(tt.body), Now: now})
		if rf != tt.want || (rf == nil) != (idx == 0) {
			t.Errorf("%s: %d %v, want %v", tt.name, idx, rf, tt.want)
		}
	}
}
