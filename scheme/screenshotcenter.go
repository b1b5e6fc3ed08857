package scheme

import (
	"errors"
	"net/http"
	"net/textproto"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// ScreenshotCenter is the name of ScreenshotCenter's scheme: an HMAC-SHA256
// of the raw body in X-ScreenshotCenter-Signature (sha256=<hex>), the event
// in the body's "event" (X-ScreenshotCenter-Event, unsigned, must agree),
// the optional signed timestamp in the body's created_at.
const ScreenshotCenter = "screenshotcenter"

func init() { Register(ScreenshotCenter, screenshotCenterFields, newScreenshotCenter) }

// MaxFutureSkew is how far in the future a signed created_at may be when
// a replay window is set, to allow for clock drift between sender and
// gateway.
const MaxFutureSkew = 5 * time.Minute

// ScreenshotCenter's own refusals.
var (
	ErrEventHeader       = refusal.New(http.StatusBadRequest, "event_header_mismatch", "X-ScreenshotCenter-Event differs from the body's event")
	ErrCreatedAtMissing  = refusal.New(http.StatusUnauthorized, "created_at_missing", "created_at is missing and max_age is set")
	ErrCreatedAtInvalid  = refusal.New(http.StatusUnauthorized, "created_at_invalid", "created_at is not an RFC 3339 time")
	ErrCreatedAtTooOld   = refusal.New(http.StatusUnauthorized, "created_at_too_old", "created_at is older than max_age")
	ErrCreatedAtInFuture = refusal.New(http.StatusUnauthorized, "created_at_in_future", "created_at is too far in the future")
)

// bodyRefusals turns each webhook.Error into its 400 once, so a refused
// body costs no allocation.
var bodyRefusals = func() map[*webhook.Error]*refusal.Refusal {
	m := make(map[*webhook.Error]*refusal.Refusal)
	// The JSON grammar's refusals (strictjson) are answered with the body_
	// reasons of the contract; the others with their own.
	for e, reason := range map[*webhook.Error]string{
		webhook.ErrInvalidJSON: "body_invalid_json", webhook.ErrInvalidUTF8: "body_invalid_utf8",
		webhook.ErrNotObject: "body_not_object", webhook.ErrTooDeep: "body_too_deep",
	} {
		m[e] = refusal.New(http.StatusBadRequest, reason, e.Error())
	}
	for _, e := range []*webhook.Error{
		webhook.ErrMissingEvent, webhook.ErrEventNotString, webhook.ErrEmptyEvent, webhook.ErrDuplicateKey,
		webhook.ErrAmbiguousKey, webhook.ErrInvalidField,
	} {
		m[e] = refusal.New(http.StatusBadRequest, e.Reason, e.Error())
	}
	return m
}()

// The signed fields of a ScreenshotCenter event, as key templates and
// placeholders name them.
const (
	fieldEvent        = "event"
	fieldScreenshotID = "screenshot_id"
	fieldBatchID      = "batch_id"
	fieldCreatedAt    = "created_at"
)

var screenshotCenterFields = []string{fieldEvent, fieldScreenshotID, fieldBatchID, fieldCreatedAt}

type screenshotCenter struct {
	v       *verifier.Verifier
	headers []string // canonical
	maxAge  time.Duration
}

var canonicalEventHeader = textproto.CanonicalMIMEHeaderKey(webhook.HeaderEvent)

func newScreenshotCenter(c Config) (Scheme, error) {
	if err := CheckSharedSecrets(c.Secrets); err != nil {
		return nil, err
	}
	v, err := verifier.New(c.Secrets)
	if err != nil {
		return nil, err
	}
	names := c.SignatureHeaders
	if len(names) == 0 {
		names = []string{webhook.HeaderSignature, webhook.HeaderSignatureAlt}
	}
	s := &screenshotCenter{v: v, maxAge: c.MaxAge}
	for _, n := range names {
		s.headers = append(s.headers, textproto.CanonicalMIMEHeaderKey(n))
	}
	return s, nil
}

// Verify checks the HMAC of the raw body against the lines of the first
// signature header present.
func (s *screenshotCenter) Verify(r Request) (int, *refusal.Refusal) {
	var lines []string
	for _, name := range s.headers {
		if v := r.Header[name]; len(v) > 0 {
			lines = v
			break
		}
	}
	return verified(s.v.Verify(r.Body, lines))
}

// verified turns a verifier.Verify result (sha256=<hex> values over the
// raw body: ScreenshotCenter's and GitHub's format) into Verify's.
func verified(idx int, err error) (int, *refusal.Refusal) {
	switch {
	case err == nil:
		return idx, nil
	case errors.Is(err, verifier.ErrNoSignature):
		return -1, ErrSigMissing
	case errors.Is(err, verifier.ErrMalformedSignature):
		return -1, ErrSigMalformed
	}
	return -1, ErrSigMismatch
}

// Read parses the body (strict JSON, one object, the watched fields), and
// applies the rules of the unsigned event header and of the replay window
// on created_at.
func (s *screenshotCenter) Read(r Request) (ev Event, _ *refusal.Refusal) {
	f, err := webhook.Parse(r.Body)
	if err != nil {
		return ev, bodyRefusal(err)
	}
	// The event header is not signed; the body is the truth, and a request
	// where the two disagree is refused so that no reader can be misled.
	if !webhook.EventHeaderAgrees(r.Header[canonicalEventHeader], f.Event) {
		return ev, ErrEventHeader
	}
	if s.maxAge > 0 {
		t, rf := checkAge(f.CreatedAt, s.maxAge, r.Now)
		if rf != nil {
			return ev, rf
		}
		ev.Timestamp = t
	}
	ev.Type = f.Event
	ev.Set(fieldEvent, f.Event, false)
	ev.Set(fieldScreenshotID, f.ScreenshotID, f.ScreenshotIDIsNumber)
	ev.Set(fieldBatchID, f.BatchID, f.BatchIDIsNumber)
	ev.Set(fieldCreatedAt, f.CreatedAt, false)
	return ev, nil
}

// checkAge enforces the replay window on the signed created_at.
func checkAge(createdAt []byte, maxAge time.Duration, now time.Time) (time.Time, *refusal.Refusal) {
	if createdAt == nil {
		return time.Time{}, ErrCreatedAtMissing
	}
	t, err := time.Parse(time.RFC3339Nano, string(createdAt))
	if err != nil {
		return time.Time{}, ErrCreatedAtInvalid
	}
	if now.Sub(t) > maxAge {
		return t, ErrCreatedAtTooOld
	}
	if t.Sub(now) > MaxFutureSkew {
		return t, ErrCreatedAtInFuture
	}
	return t, nil
}

// Identity is the screenshot_id when present and not empty, else the
// batch_id; an event with neither is keyed by its body's hash.
func (s *screenshotCenter) Identity(ev Event) (Field, bool) {
	if f, ok := ev.Field(fieldScreenshotID); ok && len(f.Value) > 0 {
		return f, true
	}
	if f, ok := ev.Field(fieldBatchID); ok && len(f.Value) > 0 {
		return f, true
	}
	return Field{}, false
}

// Sign replaces every line of each signature header the request carries
// with the one new signature.
func (s *screenshotCenter) Sign(h http.Header, i int, body []byte, _ time.Time) {
	sig := s.v.Sign(i, body)
	set := false
	for _, name := range s.headers {
		if len(h[name]) > 0 {
			h[name] = []string{sig}
			set = true
		}
	}
	if !set {
		h[s.headers[0]] = []string{sig}
	}
}

func (s *screenshotCenter) SignatureHeaders() []string { return s.headers }

func (s *screenshotCenter) FieldNames() []string { return screenshotCenterFields }

// BodyRefusal is the refusal of a body the parser refuses with e (one it
// does not know is not JSON it can read).
func BodyRefusal(e *webhook.Error) *refusal.Refusal {
	if rf, ok := bodyRefusals[e]; ok {
		return rf
	}
	return bodyRefusals[webhook.ErrInvalidJSON]
}
