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
	c := scheme.Config{}
	for _, s := range secrets {
		c.Secrets = append(c.Secrets, []byte(s))
	}
	s, err := scheme.New(scheme.Slack, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
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

// Slack's own published request (its docs' example, signed by Slack)
// verifies as of its time and reads as the slash command it is.
func TestSlackPublishedRequest(t *testing.T) {
	for _, smp := range samples(t, scheme.Slack) {
		if smp.Headers == nil {
			continue
		}
		h := smp.header()
		h.Set("Content-Type", smp.ContentType)
		ts, _ := strconv.ParseInt(h.Get("X-Slack-Request-Timestamp"), 10, 64)
		r := scheme.Request{Header: h, Body: []byte(smp.Body), Now: time.Unix(ts, 30)}
		s := newSlack(t, slackOtherSecret, smp.Secret)
		if idx, rf := s.Verify(r); idx != 1 || rf != nil {
			t.Fatalf("%s: %d %v, want secret 1", smp.Name, idx, rf)
		}
		ev, rf := s.Read(r)
		if rf != nil || string(ev.Type) != smp.Type {
			t.Errorf("%s: read %q %v, want %q", smp.Name, ev.Type, rf, smp.Type)
		}
		// The same request ten minutes later is a replay.
		r.Now = time.Unix(ts+600, 0)
		if _, rf := s.Verify(r); rf != scheme.ErrTimestampTooOld {
			t.Errorf("%s ten minutes later: %v", smp.Name, rf)
		}
	}
}

// Every published payload signed by the gateway is accepted by slack-go's
// SecretsVerifier, and verifies and reads as the provider's event.
func TestSlackAgainstSlackGo(t *testing.T) {
	s := newSlack(t, slackOtherSecret, slackSecret)
	for _, smp := range samples(t, scheme.Slack) {
		body := []byte(smp.Body)
		now := time.Now()
		for i, secret := range []string{slackOtherSecret, slackSecret} {
			h := slackSigned(s, i, body, now, smp.ContentType)
			if err := slackGoVerifies(h, secret, body); err != nil {
				t.Fatalf("%s: slack-go refuses the gateway's signature with secret %d: %v", smp.Name, i, err)
			}
			if err := slackGoVerifies(h, secret, append(bytes.Clone(body), ' ')); err == nil {
				t.Fatalf("%s: slack-go accepts a changed body", smp.Name)
			}
			r := scheme.Request{Header: h, Body: body, Now: now}
			if idx, rf := s.Verify(r); idx != i || rf != nil {
				t.Fatalf("%s: Verify %d %v, want %d", smp.Name, idx, rf, i)
			}
			ev, rf := s.Read(r)
			if rf != nil || string(ev.Type) != smp.Type {
				t.Fatalf("%s: read %q %v, want %q", smp.Name, ev.Type, rf, smp.Type)
			}
			if f, _ := ev.Field("event_id"); string(f.Value) != smp.ID {
				t.Errorf("%s: event_id %q, want %q", smp.Name, f.Value, smp.ID)
			}
			if _, ok := s.Identity(ev); ok {
				t.Errorf("%s: an identity; Slack's key is the body's hash", smp.Name)
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
		{"good", signed(), string(body), nil},
		{"upper-case hex", with("X-Slack-Signature", "v0="+strings.ToUpper(sig[3:])), string(body), nil},
		{"tampered body", signed(), strings.Replace(string(body), "Ev1", "Ev2", 1), scheme.ErrSigMismatch},
		{"wrong secret", slackSigned(newSlack(t, slackOtherSecret), 0, body, now, "application/json"), string(body), scheme.ErrSigMismatch},
		{"10 minutes old", slackSigned(s, 0, body, now.Add(-10*time.Minute), "application/json"), string(body), scheme.ErrTimestampTooOld},
		{"10 minutes ahead", slackSigned(s, 0, body, now.Add(10*time.Minute), "application/json"), string(body), scheme.ErrTimestampInFuture},
		{"no signature", with("X-Slack-Signature"), string(body), scheme.ErrSigMissing},
		{"no timestamp", with("X-Slack-Request-Timestamp"), string(body), scheme.ErrTimestampMissing},
		{"timestamp not a number", with("X-Slack-Request-Timestamp", "yesterday"), string(body), scheme.ErrTimestampInvalid},
		{"other version", with("X-Slack-Signature", "v1="+sig[3:]), string(body), scheme.ErrSigMalformed},
		{"short", with("X-Slack-Signature", sig[:40]), string(body), scheme.ErrSigMalformed},
		{"not hex", with("X-Slack-Signature", "v0="+strings.Repeat("z", 64)), string(body), scheme.ErrSigMalformed},
		{"two signatures", with("X-Slack-Signature", sig, sig), string(body), scheme.ErrSigMalformed},
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
		{form, `{"type":"url_verification"}`, "type_missing"},
		{"application/json", "command=%2Fdeploy", "body_invalid_json"},
		{"application/json", `{"type":"event_callback"}`, "type_missing"},
		{"application/json", `{"type":"event_callback","event":{"type":7}}`, "type_invalid"},
		{"application/json", `{"type":"event_callback","event":{"type":"a","Type":"b"}}`, "ambiguous_key"},
		{"application/json", `{"type":"event_callback","event":{"type":"a","type":"b"}}`, "duplicate_key"},
		{form, "command=%2Fa&command=%2Fb", "duplicate_key"},
		{form, payload(`{"type":"a"}`) + "&" + payload(`{"type":"b"}`), "duplicate_key"},
		{form, payload(`{"type":"a","type":"b"}`), "duplicate_key"},
		{form, "command=%zz", "body_invalid_form"},
		{form, "command=%2Fa;x", "body_invalid_form"},
		{form, "command=%ff", "body_invalid_utf8"},
		{form, "command=", "type_invalid"},
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

// FuzzSlackOneByte: a signed request with one byte of its body, timestamp
// or signature changed never verifies.
func FuzzSlackOneByte(f *testing.F) {
	s := newSlack(f, slackSecret)
	now := time.Unix(1531420618, 0)
	fuzzOneByte(f, s, now, func(_ testing.TB, body []byte) http.Header {
		return slackSigned(s, 0, body, now, "application/json")
	}, []string{"X-Slack-Request-Timestamp", "X-Slack-Signature"}, "X-Slack-Signature",
		"command=%2Fdeploy&text=now", `{"type":"url_verification"}`, ``)
}

func BenchmarkSlackVerify600B(b *testing.B) {
	s := newSlack(b, slackSecret)
	body := body600("url_verification")
	now := time.Now()
	benchmarkVerify(b, s, slackSigned(s, 0, body, now, "application/json"), body, now)
}
