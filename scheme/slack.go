package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/webhook"
)

// Slack is the name of Slack's scheme: X-Slack-Signature is v0= and the hex
// HMAC-SHA256 of "v0:<X-Slack-Request-Timestamp>:<body>" under the app's
// signing secret. The body is JSON (the Events API) or a form (slash
// commands, and interactivity's payload field); the event type is read
// from it (see Read), and the default key is the body's hash: Slack resends
// the same body on a retry, and only the Events API's bodies carry an id.
const Slack = "slack"

func init() { Register(Slack, slackFields, newSlack) }

// The signed fields of a Slack event.
const (
	fieldEventID   = "event_id"
	fieldTimestamp = "timestamp"
)

var slackFields = []string{fieldType, fieldEventID, fieldTimestamp}

var (
	slackSignature = textproto.CanonicalMIMEHeaderKey("X-Slack-Signature")
	slackTimestamp = textproto.CanonicalMIMEHeaderKey("X-Slack-Request-Timestamp")
	contentType    = textproto.CanonicalMIMEHeaderKey("Content-Type")
)

// slackVersion is the version of the signature and of its signed content.
const slackVersion = "v0"

// Slack's own refusals.
var (
	ErrContentType     = refusal.New(http.StatusUnsupportedMediaType, "content_type_unsupported", "Content-Type is neither application/json nor application/x-www-form-urlencoded")
	ErrBodyInvalidForm = refusal.New(http.StatusBadRequest, "body_invalid_form", "the form body is not valid application/x-www-form-urlencoded")
)

type slack struct {
	macs   *hmacKeys
	maxAge time.Duration
}

func newSlack(c Config) (Scheme, error) {
	if len(c.SignatureHeaders) > 0 {
		return nil, errors.New("scheme slack: signature_header does not apply (the scheme reads X-Slack-Signature)")
	}
	if err := CheckSharedSecrets(c.Secrets); err != nil {
		return nil, err
	}
	return &slack{macs: newHMACKeys(c.Secrets), maxAge: replayWindow(c.MaxAge)}, nil
}

// Verify checks the one v0= signature against each secret in order, then
// the replay window on the signed timestamp.
func (s *slack) Verify(r Request) (int, *refusal.Refusal) {
	var sig, sum [sha256.Size]byte
	if rf := hexSignature(r.Header[slackSignature], slackVersion+"=", sig[:]); rf != nil {
		return -1, rf
	}
	ts, t, rf := timestampHeader(r.Header[slackTimestamp])
	if rf != nil {
		return -1, rf
	}
	for i := range s.macs.pools {
		s.macs.sumAfter(i, &sum, r.Body, slackVersion, ":", ts, ":")
		if hmac.Equal(sum[:], sig[:]) {
			if rf := CheckWindow(t, s.maxAge, r.Now); rf != nil {
				return -1, rf
			}
			return i, nil
		}
	}
	return -1, ErrSigMismatch
}

// Read reads the event type from the signed body, as the body's
// Content-Type (not signed, but what the application parses it by) says
// it is written:
//   - application/json (the Events API): the body's "type"
//     (url_verification, app_rate_limited), and for an event_callback its
//     event's "type" (app_mention, message, ...); event_id is read too.
//   - application/x-www-form-urlencoded: interactivity's "payload" field,
//     a JSON object whose "type" is read (block_actions, view_submission,
//     shortcut, ...); without it a slash command's "command" (/deploy).
//
// A form with a field twice is refused (frameworks keep the first or the
// last), and so is a JSON body or payload the receiver's JSON rules refuse.
func (s *slack) Read(r Request) (ev Event, _ *refusal.Refusal) {
	ts, t, rf := timestampHeader(r.Header[slackTimestamp])
	if rf != nil {
		return ev, rf
	}
	var typ, eventID []byte
	switch mediaType(r.Header[contentType]) {
	case "application/json":
		typ, eventID, rf = slackJSON(r.Body, true)
	case "application/x-www-form-urlencoded":
		typ, rf = slackForm(r.Body)
	default:
		rf = ErrContentType
	}
	if rf != nil {
		return ev, rf
	}
	ev.Type, ev.Timestamp = typ, t
	ev.Set(fieldType, typ, false)
	ev.Set(fieldEventID, eventID, false)
	ev.Set(fieldTimestamp, []byte(ts), false)
	return ev, nil
}

// mediaType is the media type of a Content-Type, lower case, without its
// parameters.
func mediaType(lines []string) string {
	if len(lines) != 1 {
		return ""
	}
	v, _, _ := strings.Cut(lines[0], ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// slackJSON reads the event type of a JSON body: with events, the Events
// API's wrapper (an event_callback has the event's own type inside, and
// an event_id); else an interactivity payload's "type".
func slackJSON(body []byte, events bool) (typ, eventID []byte, _ *refusal.Refusal) {
	members := []jsonMember{{name: fieldType}}
	if events {
		members = append(members, jsonMember{name: fieldEventID}, jsonMember{parent: "event", name: fieldType})
	}
	if rf := readJSON(body, members); rf != nil {
		return nil, nil, rf
	}
	typ, rf := eventType(members[0], false)
	if rf != nil || !events {
		return typ, nil, rf
	}
	if string(typ) == "event_callback" {
		if typ, rf = eventType(members[2], false); rf != nil {
			return nil, nil, rf
		}
	}
	if m := members[1]; m.kind == jsonString {
		eventID = m.value
	}
	return typ, eventID, nil
}

// slackForm reads the event type of a form body.
func slackForm(body []byte) ([]byte, *refusal.Refusal) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrBodyInvalidForm
	}
	for _, v := range form {
		if len(v) > 1 {
			return nil, BodyRefusal(webhook.ErrDuplicateKey)
		}
	}
	if p, ok := form["payload"]; ok {
		typ, _, rf := slackJSON([]byte(p[0]), false)
		return typ, rf
	}
	c, ok := form["command"]
	switch {
	case !ok:
		return nil, ErrFieldMissing
	case !utf8.ValidString(c[0]):
		return nil, BodyRefusal(webhook.ErrInvalidUTF8)
	case c[0] == "":
		return nil, ErrFieldMissing
	}
	return []byte(c[0]), nil
}

// Identity: none. Slack's retries resend the same body, whose hash is the
// key; a key template can use {event_id} for the Events API.
func (s *slack) Identity(Event) (Field, bool) { return Field{}, false }

// Sign signs body with secret i, keeping the timestamp the headers carry
// (now when they have none).
func (s *slack) Sign(h http.Header, i int, body []byte, now time.Time) {
	ts, _, rf := timestampHeader(h[slackTimestamp])
	if rf != nil {
		ts = strconv.FormatInt(now.Unix(), 10)
	}
	var sum [sha256.Size]byte
	s.macs.sumAfter(i, &sum, body, slackVersion, ":", ts, ":")
	h[slackTimestamp] = []string{ts}
	h[slackSignature] = []string{slackVersion + "=" + hex.EncodeToString(sum[:])}
}

func (s *slack) SignatureHeaders() []string { return []string{slackSignature} }

func (s *slack) FieldNames() []string { return slackFields }
