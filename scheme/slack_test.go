package scheme_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/scgate/scgate/scheme"
)

const (
	slackSecret      = "8f742231b10e8888abcd99yyyzzz85a5"
	slackOtherSecret = "e6b19c573432dcc6b075501d51b51bb8"
)

func newSlack(t testing.TB, secrets ...string) scheme.Scheme {
	t.Helper()
	return newWithSecrets(t, scheme.Slack, 0, secrets...)
}

// slackGoVerifies reports slack-go's SecretsVerifier's verdict (its own
// clock, five minutes either way).
func slackGoVerifies(h http.Header, secret string, body []byte) error {
	sv, err := slackgo.NewSecretsVerifier(h, secret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

// slackSigned is body signed by the gateway with secret i as of at, with
// the Content-Type Slack sends it with.
func slackSigned(s scheme.Scheme, i int, body []byte, at time.Time, ct string) http.Header {
	h := http.Header{"Content-Type": {ct}, "X-Slack-Request-Timestamp": {strconv.FormatInt(at.Unix(), 10)}}
	s.Sign(h, i, body, at)
	return h
}

// slackSamples are testdata's Slack bodies.
var slackSamples = []providerSample{
	{file: "slack/slash-command.txt", contentType: "application/x-www-form-urlencoded", typ: "/webhook-collect"},
	{file: "slack/block-actions.txt", contentType: "application/x-www-form-urlencoded", typ: "block_actions"},
	{file: "slack/url-verification.json", contentType: "application/json", typ: "url_verification"},
	{file: "slack/app-mention.json", contentType: "application/json", typ: "app_mention", id: "Ev0LAN670R"},
}

// Slack's own published request (its docs' example, signed by Slack:
// testdata/SOURCES.md) verifies as of its time and reads as the slash
// command it is; ten minutes later it is a replay.
func TestSlackPublishedRequest(t *testing.T) {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Slack-Request-Timestamp": {"1531420618"},
		"X-Slack-Signature": {"v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}}
	r := scheme.Request{Header: h, Body: providerBody(t, "slack/slash-command.txt"), Now: time.Unix(1531420618, 30)}
	s := newSlack(t, slackOtherSecret, slackSecret)
	if idx, rf := s.Verify(r); idx != 1 || rf != nil {
		t.Fatalf("Slack's request: %d %v, want secret 1", idx, rf)
	}
	if ev, rf := s.Read(r); rf != nil || string(ev.Type) != "/webhook-collect" {
		t.Errorf("Slack's request reads as %q %v", ev.Type, rf)
	}
	r.Now = time.Unix(1531420618+600, 0)
	if _, rf := s.Verify(r); rf != scheme.ErrTimestampTooOld {
		t.Errorf("Slack's request ten minutes later: %v", rf)
	}
}

// Every published payload signed by the gateway is accepted by slack-go's
// SecretsVerifier, and verifies and reads as the provider's event.
func TestSlackAgainstSlackGo(t *testing.T) {
	s := newSlack(t, slackOtherSecret, slackSecret)
	for _, smp := range slackSamples {
		body := providerBody(t, smp.file)
		now := time.Now()
		for i, secret := range []string{slackOtherSecret, slackSecret} {
			h := slackSigned(s, i, body, now, smp.contentType)
			if err := slackGoVerifies(h, secret, body); err != nil {
				t.Fatalf("%s: slack-go refuses the gateway's signature with secret %d: %v", smp.file, i, err)
			}
			if err := slackGoVerifies(h, secret, append(bytes.Clone(body), ' ')); err == nil {
				t.Fatalf("%s: slack-go accepts a changed body", smp.file)
			}
			r := scheme.Request{Header: h, Body: body, Now: now}
			if idx, rf := s.Verify(r); idx != i || rf != nil {
				t.Fatalf("%s: Verify %d %v, want %d", smp.file, idx, rf, i)
			}
			ev, rf := s.Read(r)
			if rf != nil || string(ev.Type) != smp.typ {
				t.Fatalf("%s: read %q %v, want %q", smp.file, ev.Type, rf, smp.typ)
			}
			if f, _ := ev.Field("event_id"); string(f.Value) != smp.id {
				t.Errorf("%s: event_id %q, want %q", smp.file, f.Value, smp.id)
			}
			if _, ok := s.Identity(ev); ok {
				t.Errorf("%s: an identity; Slack's key is the body's hash", smp.file)
			}
		}
	}
}

func TestSlackRefusals(t *testing.T) {
	s := newSlack(t, slackSecret)
	body := []byte(`{"type":"event_callback","event":{"type":"app_mention"},"event_id":"Ev1"}`)
	now := time.Now()
	signed := func() http.Header { return slackSigned(s, 0, body, now, "application/json") }
	with := func(name string, v ...string) http.Header { return withHeader(signed(), name, v...) }
	sig := signed().Get("X-Slack-Signature")
	checkVerify(t, s, now, []verifyCase{
		{"good", signed(), body, 0, nil},
		{"upper-case hex", with("X-Slack-Signature", "v0="+strings.ToUpper(sig[3:])), body, 0, nil},
		{"tampered body", signed(), []byte(strings.Replace(string(body), "Ev1", "Ev2", 1)), -1, scheme.ErrSigMismatch},
		{"wrong secret", slackSigned(newSlack(t, slackOtherSecret), 0, body, now, "application/json"), body, -1, scheme.ErrSigMismatch},
		{"10 minutes old", slackSigned(s, 0, body, now.Add(-10*time.Minute), "application/json"), body, -1, scheme.ErrTimestampTooOld},
		{"10 minutes ahead", slackSigned(s, 0, body, now.Add(10*time.Minute), "application/json"), body, -1, scheme.ErrTimestampInFuture},
		{"no signature", with("X-Slack-Signature"), body, -1, scheme.ErrSigMissing},
		{"no timestamp", with("X-Slack-Request-Timestamp"), body, -1, scheme.ErrTimestampMissing},
		{"timestamp not a number", with("X-Slack-Request-Timestamp", "yesterday"), body, -1, scheme.ErrTimestampInvalid},
		{"other version", with("X-Slack-Signature", "v1="+sig[3:]), body, -1, scheme.ErrSigMalformed},
		{"short", with("X-Slack-Signature", sig[:40]), body, -1, scheme.ErrSigMalformed},
		{"not hex", with("X-Slack-Signature", "v0="+strings.Repeat("z", 64)), body, -1, scheme.ErrSigMalformed},
		{"two signatures", with("X-Slack-Signature", sig, sig), body, -1, scheme.ErrSigMalformed},
	})
}

// Read: the event type as the Content-Type says the body is written, and
// refusals of signed bodies of the wrong shape.
func TestSlackRead(t *testing.T) {
	s := newSlack(t, slackSecret)
	now := time.Now()
	const form = "application/x-www-form-urlencoded"
	payload := func(p string) string { return "payload=" + url.QueryEscape(p) }
	for _, tt := range []struct {
		ct, body string
		typ      string // or the refusal's reason
	}{
		{"application/json; charset=utf-8", `{"type":"url_verification","challenge":"x"}`, "url_verification"},
		{"Application/JSON", `{"type":"event_callback","event":{"type":"message"}}`, "message"},
		{form, payload(`{"type":"view_submission"}`) + "&x=1", "view_submission"},
		{form, "command=%2Fdeploy&text=now", "/deploy"},
		{form, "command=%2Fdeploy&payload=" + url.QueryEscape(`{"type":"shortcut"}`), "shortcut"},
		{"text/plain", `{"type":"url_verification"}`, "content_type_unsupported"},
		{"", `{"type":"url_verification"}`, "content_type_unsupported"},
		{form, `{"type":"url_verification"}`, "body_field_missing"},
		{"application/json", "command=%2Fdeploy", "body_invalid_json"},
		{"application/json", `{"type":"event_callback"}`, "body_field_missing"},
		{"application/json", `{"type":"event_callback","event":{"type":7}}`, "invalid_field"},
		{"application/json", `{"type":"event_callback","event":{"type":"a","Type":"b"}}`, "ambiguous_key"},
		{"application/json", `{"type":"event_callback","event":{"type":"a","type":"b"}}`, "duplicate_key"},
		{form, "command=%2Fa&command=%2Fb", "duplicate_key"},
		{form, payload(`{"type":"a"}`) + "&" + payload(`{"type":"b"}`), "duplicate_key"},
		{form, payload(`{"type":"a","type":"b"}`), "duplicate_key"},
		{form, "command=%zz", "body_invalid_form"},
		{form, "command=%2Fa;x", "body_invalid_form"},
		{form, "command=%ff", "body_invalid_utf8"},
		{form, "command=", "body_field_missing"},
	} {
		body := []byte(tt.body)
		r := scheme.Request{Header: slackSigned(s, 0, body, now, tt.ct), Body: body, Now: now}
		if tt.ct == "" {
			r.Header.Del("Content-Type")
		}
		if _, rf := s.Verify(r); rf != nil {
			t.Fatalf("%s: Verify %v", tt.body, rf)
		}
		ev, rf := s.Read(r)
		if got := string(ev.Type); rf != nil {
			got = rf.Reason
			if rf.Reason == "content_type_unsupported" && rf.Status != http.StatusUnsupportedMediaType {
				t.Errorf("%s: status %d", tt.body, rf.Status)
			}
			if got != tt.typ {
				t.Errorf("%s (%s): %s, want %s", tt.body, tt.ct, got, tt.typ)
			}
		} else if got != tt.typ {
			t.Errorf("%s (%s): type %q, want %s", tt.body, tt.ct, got, tt.typ)
		}
	}
}

// Sign keeps the timestamp a request carries.
func TestSlackSignKeepsTheTimestamp(t *testing.T) {
	s := newSlack(t, slackSecret)
	h := http.Header{"X-Slack-Request-Timestamp": {"1531420618"}}
	s.Sign(h, 0, []byte("a=b"), time.Now())
	if h.Get("X-Slack-Request-Timestamp") != "1531420618" || len(h["X-Slack-Signature"]) != 1 {
		t.Fatalf("after Sign: %v", h)
	}
	if _, err := scheme.New(scheme.Slack, scheme.Config{Secrets: [][]byte{[]byte(slackSecret)}, SignatureHeaders: []string{"X"}}); err == nil {
		t.Error("signature_header accepted")
	}
}

// FuzzSlackTamper: a request signed by the gateway (slack-go verifies
// them: TestSlackAgainstSlackGo) with one byte of its body, timestamp or
// signature changed never verifies.
func FuzzSlackTamper(f *testing.F) {
	s := newSlack(f, slackSecret)
	now := time.Unix(1531420618, 0)
	fuzzTamper(f, tamperTarget{s: s, now: now, header: "X-Slack-Signature", signed: []string{"X-Slack-Request-Timestamp"}},
		providerBody(f, "slack/slash-command.txt"))
}
