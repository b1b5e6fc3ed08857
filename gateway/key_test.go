package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/webhook"
)

func TestDefaultKey(t *testing.T) {
	body := []byte(`{"event":"batch.finished"}`)
	sum := sha256.Sum256(body)
	tests := []struct {
		name string
		f    webhook.Fields
		want string
	}{
		{"screenshot", webhook.Fields{Event: []byte("screenshot.finished"), ScreenshotID: []byte("sc_1"), BatchID: []byte("b")}, `"screenshot.finished" screenshot_id "sc_1"`},
		{"upload of same screenshot differs", webhook.Fields{Event: []byte("app.upload.finished"), ScreenshotID: []byte("sc_1")}, `"app.upload.finished" screenshot_id "sc_1"`},
		{"batch", webhook.Fields{Event: []byte("batch.finished"), BatchID: []byte("b_9")}, `"batch.finished" batch_id "b_9"`},
		{"empty screenshot_id counts as absent", webhook.Fields{Event: []byte("batch.finished"), ScreenshotID: []byte{}, BatchID: []byte("b_9")}, `"batch.finished" batch_id "b_9"`},
		{"empty ids fall back to the body hash", webhook.Fields{Event: []byte("batch.finished"), ScreenshotID: []byte{}, BatchID: []byte{}}, `"batch.finished" sha256 ` + hex.EncodeToString(sum[:])},
		{"neither", webhook.Fields{Event: []byte("batch.finished")}, `"batch.finished" sha256 ` + hex.EncodeToString(sum[:])},
		{"numeric id", webhook.Fields{Event: []byte("batch.finished"), BatchID: []byte("42"), BatchIDIsNumber: true}, `"batch.finished" batch_id 42`},
		{"quotes and control bytes escaped", webhook.Fields{Event: []byte("e\"|\n"), ScreenshotID: []byte("a\x7f\\")}, `"e\"|\u000a" screenshot_id "a\u007f\\"`},
	}
	for _, tt := range tests {
		if got := DefaultKey(eventOf(body, tt.f)); got != tt.want {
			t.Errorf("%s: key = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// An event type the signature does not cover (GitHub's X-GitHub-Event) is
// not in the default key: a captured event replayed under another type is
// still a duplicate, and the key is the body's hash alone.
func TestDefaultKeyLeavesOutAnUnsignedType(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	sum := sha256.Sum256(body)
	key := func(typ string) string {
		ev := Event{Body: body}
		ev.Signed.Type, ev.Signed.UnsignedType = []byte(typ), true
		return DefaultKey(ev)
	}
	if got, want := key("ping"), "sha256 "+hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("key = %q, want %q", got, want)
	}
	if key("ping") != key("push") {
		t.Error("the unsigned type changes the key")
	}
	signed := Event{Body: body}
	signed.Signed.Type = []byte("ping")
	if DefaultKey(signed) == key("ping") {
		t.Error("a signed type and an unsigned one give the same key")
	}
}

// Two different signed events never share a default key: the pairs that
// collided when the key was "event|id" text.
func TestDefaultKeyIsInjective(t *testing.T) {
	noID := `{"event":"e","n":1}`
	sum := sha256.Sum256([]byte(noID))
	pairs := [][2]string{
		{`{"event":"e","screenshot_id":"batch:X"}`, `{"event":"e","batch_id":"X"}`},
		{`{"event":"a|b","screenshot_id":"c"}`, `{"event":"a","screenshot_id":"b|c"}`},
		{`{"event":"e","screenshot_id":123}`, `{"event":"e","screenshot_id":"123"}`},
		{`{"event":"e","batch_id":7}`, `{"event":"e","batch_id":"7"}`},
		{`{"event":"e","screenshot_id":"sha256:` + hex.EncodeToString(sum[:]) + `"}`, noID},
		{`{"event":"e","screenshot_id":"` + hex.EncodeToString(sum[:]) + `"}`, noID},
		{`{"event":"e","screenshot_id":"x\"y"}`, `{"event":"e","screenshot_id":"x","z":"y"}`},
	}
	for _, p := range pairs {
		a, b := parseEvent(t, p[0]), parseEvent(t, p[1])
		if ka, kb := DefaultKey(a), DefaultKey(b); ka == kb {
			t.Errorf("%s and %s share the key %q", p[0], p[1], ka)
		}
	}
}

// A number id is keyed as written, not by its value: 100, 1e2 and 100.0
// are different keys (the signer chooses the bytes, and a retry of one
// event carries the same signed bytes), while whitespace around it does not
// count. A key template's {batch_id} is the same text.
func TestDefaultKeyUsesNumbersAsWritten(t *testing.T) {
	tmpl, err := ParseKeyTemplate("{batch_id}", scheme.FieldNames(scheme.ScreenshotCenter))
	if err != nil {
		t.Fatal(err)
	}
	keyed := Keyer{Template: tmpl}
	seen := map[string]string{}
	for _, id := range []string{"100", "1e2", "1E2", "100.0", "1.00e+2", "-0", "0"} {
		body := `{"event":"batch.finished","batch_id":` + id + `}`
		key := DefaultKey(parseEvent(t, body))
		if want := `"batch.finished" batch_id ` + id; key != want {
			t.Errorf("%s: key %q, want %q", body, key, want)
		}
		if other, ok := seen[key]; ok {
			t.Errorf("%s and %s share the key %q", other, id, key)
		}
		seen[key] = id
		if retry := DefaultKey(parseEvent(t, body)); retry != key {
			t.Errorf("the same bytes again: %q, want %q", retry, key)
		}
		if k, rej := keyed.Key(parseEvent(t, body)); rej != nil || k.Display() != id {
			t.Errorf("{batch_id} of %s: %q (%v), want %q", body, k.Display(), rej, id)
		}
	}
	spaced := DefaultKey(parseEvent(t, "{\n  \"event\": \"batch.finished\",\n  \"batch_id\": 100\n}"))
	if spaced != `"batch.finished" batch_id 100` {
		t.Errorf("pretty-printed body: key %q, want the compact body's", spaced)
	}
}

func parseEvent(t testing.TB, body string) Event {
	t.Helper()
	f, err := webhook.Parse([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return eventOf([]byte(body), f)
}

// sc is ScreenshotCenter's scheme, whose default key these tests check.
var sc = func() scheme.Scheme {
	s, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		panic(err)
	}
	return s
}()

// DefaultKey is the key a Keyer without a template gives ev.
func DefaultKey(ev Event) string {
	k, _ := (&Keyer{Scheme: sc}).Key(ev)
	return k.Display()
}

// eventOf is the event of body with the fields f, as the scheme reads it.
func eventOf(body []byte, f webhook.Fields) Event {
	ev := Event{Body: body}
	ev.Signed.Type = f.Event
	ev.Signed.Set("event", f.Event, false)
	ev.Signed.Set("screenshot_id", f.ScreenshotID, f.ScreenshotIDIsNumber)
	ev.Signed.Set("batch_id", f.BatchID, f.BatchIDIsNumber)
	ev.Signed.Set("created_at", f.CreatedAt, false)
	return ev
}

// FuzzDefaultKeyIsInjective: two bodies the parser accepts share a default
// key only when they name the same event with the same id (of the same
// JSON type), or, without an id, are the same body.
func FuzzDefaultKeyIsInjective(f *testing.F) {
	f.Add([]byte(`{"event":"e","screenshot_id":"batch:X"}`), []byte(`{"event":"e","batch_id":"X"}`))
	f.Add([]byte(`{"event":"a|b","screenshot_id":"c"}`), []byte(`{"event":"a","screenshot_id":"b|c"}`))
	f.Add([]byte(`{"event":"e","screenshot_id":123}`), []byte(`{"event":"e","screenshot_id":"123"}`))
	f.Add([]byte(`{"event":"e","screenshot_id":"\u0022"}`), []byte(`{"event":"e","screenshot_id":"\""}`))
	f.Add([]byte(`{"event":"e"}`), []byte(`{"event":"e","screenshot_id":""}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fa, erra := webhook.Parse(a)
		fb, errb := webhook.Parse(b)
		if erra != nil || errb != nil {
			return
		}
		if DefaultKey(eventOf(a, fa)) != DefaultKey(eventOf(b, fb)) && sameIdentity(a, fa, b, fb) {
			t.Fatalf("the same event got two keys: %s and %s", a, b)
		}
		if DefaultKey(eventOf(a, fa)) == DefaultKey(eventOf(b, fb)) && !sameIdentity(a, fa, b, fb) {
			t.Fatalf("%s and %s share the key %q", a, b, DefaultKey(eventOf(a, fa)))
		}
	})
}

// sameIdentity is what the default key promises to tell apart, written
// out plainly: the event, and the first non-empty of screenshot_id and
// batch_id with its type, or else the whole body.
func sameIdentity(a []byte, fa webhook.Fields, b []byte, fb webhook.Fields) bool {
	id := func(f webhook.Fields) (kind string, v []byte, number bool) {
		switch {
		case len(f.ScreenshotID) > 0:
			return "screenshot_id", f.ScreenshotID, f.ScreenshotIDIsNumber
		case len(f.BatchID) > 0:
			return "batch_id", f.BatchID, f.BatchIDIsNumber
		}
		return "", nil, false
	}
	ka, va, na := id(fa)
	kb, vb, nb := id(fb)
	if string(fa.Event) != string(fb.Event) || ka != kb {
		return false
	}
	if ka == "" {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(va, vb) && na == nb
}
