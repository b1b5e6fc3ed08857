package scheme

import (
	"crypto/sha256"
	"encoding/hex"
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
	errBodyInvalid       = refusal.New(http.StatusBadRequest, "body_invalid", "the body is not a valid event")
)

// bodyRefusals turns each webhook.Error into its 400 once, so a refused
// body costs no allocation.
var bodyRefusals = func() map[*webhook.Error]*refusal.Refusal {
	m := make(map[*webhook.Error]*refusal.Refusal)
	for _, e := range []*webhook.Error{
		webhook.ErrInvalidJSON, webhook.ErrInvalidUTF8, webhook.ErrNotObject, webhook.ErrTooDeep, webhook.ErrMissingEvent,
		webhook.ErrEventNotString, webhook.ErrEmptyEvent, webhook.ErrDuplicateKey, webhook.ErrAmbiguousKey,
		webhook.ErrInvalidField,
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
func (s *screenshotCenter) Verify(r *Request) (int, *refusal.Refusal) {
	var lines []string
	for _, name := range s.headers {
		if v := r.Header[name]; len(v) > 0 {
			lines = v
			break
		}
	}
	idx, err := s.v.Verify(r.Body, lines)
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
func (s *screenshotCenter) Read(r *Request, ev *Event) *refusal.Refusal {
	f, err := webhook.Parse(r.Body)
	if err != nil {
		var pe *webhook.Error
		if errors.As(err, &pe) {
			return BodyRefusal(pe)
		}
		return errBodyInvalid
	}
	// The event header is not signed; the body is the truth, and a request
	// where the two disagree is refused so that no reader can be misled.
	if !webhook.EventHeaderAgrees(r.Header[canonicalEventHeader], f.Event) {
		return ErrEventHeader
	}
	if s.maxAge > 0 {
		t, rf := checkAge(f.CreatedAt, s.maxAge, r.Now)
		if rf != nil {
			return rf
		}
		ev.Timestamp = t
	}
	ev.Type = f.Event
	ev.Set(fieldEvent, f.Event, false)
	ev.Set(fieldScreenshotID, f.ScreenshotID, f.ScreenshotIDIsNumber)
	ev.Set(fieldBatchID, f.BatchID, f.BatchIDIsNumber)
	ev.Set(fieldCreatedAt, f.CreatedAt, false)
	return nil
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

// AppendKey appends the default key: the event name as a JSON string, then
// the id that names the event and its value, a JSON string or the literal
// text of a JSON number (123 and "123" are different ids):
//
//	"screenshot.finished" screenshot_id "sc_abc123"
//	"batch.finished" batch_id 42
//	"custom.event" sha256 <hex SHA-256 of the raw body>
//
// A number is keyed as written, not by its value (100, 1e2 and 100.0 are
// different keys): the signer chooses the bytes, and a retry of one event
// carries the same signed bytes. The screenshot_id names the event when
// present and not empty, else the batch_id, else the whole body's hash.
// Each part is delimited (quoted, or a fixed word), so no value can
// imitate another part.
func (s *screenshotCenter) AppendKey(dst []byte, ev *Event, body []byte) []byte {
	dst = AppendQuoted(dst, ev.Type)
	if f, ok := ev.Field(fieldScreenshotID); ok && len(f.Value) > 0 {
		return AppendID(append(dst, " screenshot_id "...), f)
	}
	if f, ok := ev.Field(fieldBatchID); ok && len(f.Value) > 0 {
		return AppendID(append(dst, " batch_id "...), f)
	}
	sum := sha256.Sum256(body)
	return hex.AppendEncode(append(dst, " sha256 "...), sum[:])
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

// AppendID appends an id: a number's literal text as is, a string quoted.
func AppendID(dst []byte, f Field) []byte {
	if f.Number {
		return append(dst, f.Value...)
	}
	return AppendQuoted(dst, f.Value)
}

// AppendQuoted appends s as a JSON string: quotes, backslashes and control
// bytes escaped, everything else as is. Different strings give different
// results, and a result never holds a control byte.
func AppendQuoted(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// BodyRefusal is the refusal of a body the parser refuses with e.
func BodyRefusal(e *webhook.Error) *refusal.Refusal {
	if rf, ok := bodyRefusals[e]; ok {
		return rf
	}
	return errBodyInvalid
}
