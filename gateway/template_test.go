package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/scgate/scgate/scheme"
)

func TestKeyTemplate(t *testing.T) {
	body := `{"event":"screenshot.finished","screenshot_id":42,"created_at":"2026-11-30T10:00:00Z"}`
	sum := sha256.Sum256([]byte(body))
	ev := parseEvent(t, body)
	tests := []struct {
		template string
		want     string // "" when the event is refused (a field is missing)
		wantErr  string // a config error
	}{
		{template: "{event}/{screenshot_id}", want: "screenshot.finished/42"},
		{template: "{event}:{body_sha256}", want: "screenshot.finished:" + hex.EncodeToString(sum[:])},
		{template: `\{{created_at}\}`, want: "{2026-11-30T10:00:00Z}"},
		{template: "{event}/{batch_id}", want: ""},
		{template: "constant", wantErr: "must contain a placeholder"},
		{template: `\{event\}`, wantErr: "must contain a placeholder"},
		// Request details are not signed: a client would choose the key.
		{template: "{event}/{http.request.host}", wantErr: "{http.request.host} is not a signed field"},
		{template: "{event}/{env.X}", wantErr: "{env.X} is not a signed field"},
		{template: "{event", wantErr: "unmatched {"},
		{template: "event}", wantErr: "unmatched }"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			tmpl, err := ParseKeyTemplate(tt.template, scheme.FieldNames(scheme.ScreenshotCenter))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyTemplate = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := Keyer{Namespace: "ns", Template: tmpl}
			key, rej := k.Key(ev)
			if tt.want == "" {
				if rej != ErrKeyUnresolved {
					t.Fatalf("key %q, want dedupe_key_unresolved", key.Store)
				}
				return
			}
			if rej != nil || key.Display() != tt.want || key.Store != "ns\n"+tt.want {
				t.Fatalf("key %q (display %q), %v; want %q", key.Store, key.Display(), rej, tt.want)
			}
		})
	}
}

// Endpoints that share a store keep their keys apart by namespace; the
// request itself plays no part.
func TestKeyerNamespaces(t *testing.T) {
	ev := parseEvent(t, `{"event":"screenshot.finished","screenshot_id":"sc_1"}`)
	a, _ := (&Keyer{Namespace: "app-a", Scheme: sc}).Key(ev)
	b, _ := (&Keyer{Namespace: "app-b", Scheme: sc}).Key(ev)
	if a.Store == b.Store || a.Display() != b.Display() {
		t.Fatalf("keys %q and %q: want different store keys with the same display key", a.Store, b.Store)
	}
}
