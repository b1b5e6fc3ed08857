package scheme_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/verifier"
)

var (
	oldSecret = []byte("old-secret-0123456789")
	newSecret = []byte("new-secret-0123456789")
)

func newSC(t *testing.T, maxAge time.Duration) scheme.Scheme {
	t.Helper()
	s, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{Secrets: [][]byte{oldSecret, newSecret}, MaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScreenshotCenterVerify(t *testing.T) {
	s := newSC(t, 0)
	body := []byte(`{"event":"screenshot.finished","screenshot_id":"sc_1"}`)
	tests := []struct {
		name   string
		header http.Header
		index  int
		want   *refusal.Refusal
	}{
		{"old secret", http.Header{"X-Screenshotcenter-Signature": {verifier.Sign(oldSecret, body)}}, 0, nil},
		{"new secret", http.Header{"X-Screenshotcenter-Signature": {verifier.Sign(newSecret, body)}}, 1, nil},
		{"alternative header", http.Header{"X-Signature": {verifier.Sign(newSecret, body)}}, 1, nil},
		{"none", http.Header{}, -1, scheme.ErrSigMissing},
		{"malformed", http.Header{"X-Screenshotcenter-Signature": {"md5=abc"}}, -1, scheme.ErrSigMalformed},
		{"other secret", http.Header{"X-Screenshotcenter-Signature": {verifier.Sign([]byte("another-secret-0123456"), body)}}, -1, scheme.ErrSigMismatch},
	}
	for _, tt := range tests {
		idx, rf := s.Verify(scheme.Request{Header: tt.header, Body: body})
		if idx != tt.index || rf != tt.want {
			t.Errorf("%s: %d %v, want %d %v", tt.name, idx, rf, tt.index, tt.want)
		}
	}
}

func TestScreenshotCenterRead(t *testing.T) {
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"event":"batch.finished","batch_id":42,"created_at":"2026-12-08T11:59:00Z"}`)
	ev, rf := newSC(t, time.Hour).Read(scheme.Request{Header: http.Header{"X-Screenshotcenter-Event": {"batch.finished"}}, Body: body, Now: now})
	if rf != nil {
		t.Fatal(rf)
	}
	if string(ev.Type) != "batch.finished" || !ev.Timestamp.Equal(now.Add(-time.Minute)) {
		t.Fatalf("event %q at %v", ev.Type, ev.Timestamp)
	}
	id, ok := newSC(t, 0).Identity(ev)
	if !ok || id.Name != "batch_id" || string(id.Value) != "42" || !id.Number {
		t.Fatalf("identity %+v %v, want the number batch_id 42", id, ok)
	}
	if _, ok := ev.Field("screenshot_id"); ok {
		t.Error("an absent screenshot_id reads as present")
	}
	for _, tt := range []struct {
		name   string
		header http.Header
		body   string
		want   *refusal.Refusal
	}{
		{"event header differs", http.Header{"X-Screenshotcenter-Event": {"screenshot.failed"}}, string(body), scheme.ErrEventHeader},
		{"too old", nil, `{"event":"e","created_at":"2026-12-08T10:00:00Z"}`, scheme.ErrCreatedAtTooOld},
		{"no created_at", nil, `{"event":"e"}`, scheme.ErrCreatedAtMissing},
		{"not JSON", nil, `{"event":`, scheme.BodyRefusal(nil)},
	} {
		if _, rf := newSC(t, time.Hour).Read(scheme.Request{Header: tt.header, Body: []byte(tt.body), Now: now}); rf != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, rf, tt.want)
		}
	}
}

// Sign replaces every line of each signature header present with one
// signature that Verify accepts, for the secret asked for.
func TestScreenshotCenterSign(t *testing.T) {
	s := newSC(t, 0)
	body := []byte(`{"event":"e"}`)
	h := http.Header{"X-Screenshotcenter-Signature": {"", "sha256=00"}, "X-Signature": {"x"}}
	s.Sign(h, 1, body, time.Now())
	want := verifier.Sign(newSecret, body)
	if !slices.Equal(h["X-Screenshotcenter-Signature"], []string{want}) || !slices.Equal(h["X-Signature"], []string{want}) {
		t.Fatalf("headers after Sign: %v", h)
	}
	if idx, rf := s.Verify(scheme.Request{Header: h, Body: body}); idx != 1 || rf != nil {
		t.Fatalf("Verify of the new signature: %d %v", idx, rf)
	}
}

func TestNew(t *testing.T) {
	if _, err := scheme.New("nope", scheme.Config{Secrets: [][]byte{oldSecret}}); err == nil {
		t.Error("an unknown scheme was built")
	}
	if _, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{}); err == nil {
		t.Error("a scheme without secrets was built")
	}
	if !slices.Contains(scheme.Names(), scheme.ScreenshotCenter) {
		t.Errorf("Names() = %v", scheme.Names())
	}
}
