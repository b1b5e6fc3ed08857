// Package gateway holds the receiver's request checks in plain Go: method,
// size, signature, body, replay window and event allowlist, in the order the
// contract gives. The Caddy handler calls Check and then does the dedupe and
// forwarding glue; everything here is testable without Caddy.
package gateway

import (
	"errors"
	"net/http"
	"net/textproto"
	"os"
	"sync"
	"time"

	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// MaxFutureSkew is how far in the future a signed created_at may be when
// MaxAge is set, to allow for clock drift between sender and gateway.
const MaxFutureSkew = 5 * time.Minute

// Checker checks webhook requests. It is safe for concurrent use once built.
type Checker struct {
	// Verifier holds the secrets. Required.
	Verifier *verifier.Verifier
	// SignatureHeaders are searched in order; the first present is used.
	SignatureHeaders []string
	// MaxBody is the largest accepted body in bytes.
	MaxBody int64
	// MaxAge, if positive, is the replay window on the signed created_at.
	MaxAge time.Duration
	// Events, if not nil, is the allowlist of events to forward.
	Events map[string]struct{}
	// Budget, if not nil, bounds the body bytes buffered by all requests at
	// once (shared by every Checker of the process).
	Budget *webhook.Budget

	canonOnce sync.Once
	canon     []string // SignatureHeaders in canonical form
}

// Rejection is a request the gateway refuses, with the status to answer and
// a stable reason code for logs and metrics.
type Rejection struct {
	Status int
	Reason string
	Err    error
}

func (r *Rejection) Error() string { return r.Reason + ": " + r.Err.Error() }

func reject(status int, reason, msg string) *Rejection {
	return &Rejection{Status: status, Reason: reason, Err: errors.New(msg)}
}

// The rejections that do not depend on the body's content.
var (
	ErrMethod            = reject(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is accepted")
	ErrTooLarge          = reject(http.StatusRequestEntityTooLarge, "body_too_large", "body larger than max_body")
	ErrBodyRead          = reject(http.StatusBadRequest, "body_read_failed", "reading the request body failed")
	ErrBodyTimeout       = reject(http.StatusRequestTimeout, "body_timeout", "the body did not arrive within body_timeout")
	ErrBufferFull        = reject(http.StatusServiceUnavailable, "buffer_full", "the gateway buffers too many bodies right now")
	ErrSigMissing        = reject(http.StatusUnauthorized, "signature_missing", "no signature header")
	ErrSigMalformed      = reject(http.StatusUnauthorized, "signature_malformed", "malformed signature header")
	ErrSigMismatch       = reject(http.StatusUnauthorized, "signature_mismatch", "no secret matches the signature")
	ErrEventHeader       = reject(http.StatusBadRequest, "event_header_mismatch", "X-ScreenshotCenter-Event differs from the body's event")
	ErrCreatedAtMissing  = reject(http.StatusUnauthorized, "created_at_missing", "created_at is missing and max_age is set")
	ErrCreatedAtInvalid  = reject(http.StatusUnauthorized, "created_at_invalid", "created_at is not an RFC 3339 time")
	ErrCreatedAtTooOld   = reject(http.StatusUnauthorized, "created_at_too_old", "created_at is older than max_age")
	ErrCreatedAtInFuture = reject(http.StatusUnauthorized, "created_at_in_future", "created_at is too far in the future")
)

// bodyRejections turns each webhook.Error into a 400 once, so a rejected body
// costs no allocation. The JSON grammar's refusals (strictjson) are
// answered with the body_ reasons of the contract; the others with their
// own.
var bodyRejections = func() map[*webhook.Error]*Rejection {
	m := make(map[*webhook.Error]*Rejection)
	for e, reason := range map[*webhook.Error]string{
		webhook.ErrInvalidJSON: "body_invalid_json", webhook.ErrInvalidUTF8: "body_invalid_utf8",
		webhook.ErrNotObject: "body_not_object", webhook.ErrTooDeep: "body_too_deep",
	} {
		m[e] = &Rejection{Status: http.StatusBadRequest, Reason: reason, Err: e}
	}
	for _, e := range []*webhook.Error{
		webhook.ErrMissingEvent, webhook.ErrEventNotString, webhook.ErrEmptyEvent, webhook.ErrDuplicateKey,
		webhook.ErrAmbiguousKey, webhook.ErrInvalidField,
	} {
		m[e] = &Rejection{Status: http.StatusBadRequest, Reason: e.Reason, Err: e}
	}
	return m
}()

// Event is a request that passed every check.
type Event struct {
	// Body is the exact raw body.
	Body []byte
	// Fields are the top-level fields read from Body.
	Fields webhook.Fields
	// SecretIndex is the index of the secret whose signature matched.
	SecretIndex int
	// Ignored is set when an allowlist is configured and does not hold the
	// event: it is acknowledged, not forwarded.
	Ignored bool
	// Timing is how long the phases of Check took.
	Timing Timing
	// held is the share of the Checker's Budget that Body holds.
	held int64
}

// Timing is the time Check spent reading the body, verifying the signature,
// and parsing the body with the checks after it.
type Timing struct {
	Read, Verify, Parse time.Duration
}

// Check reads r's body (never past MaxBody, and within the Budget) and runs
// every check in the contract's order: method, size, signature (before
// anything parses the body), body fields, event header, replay window,
// allowlist. An accepted event holds its body's share of the Budget until
// Release; a rejected one holds nothing.
func (c *Checker) Check(r *http.Request, now time.Time) (Event, *Rejection) {
	ev, rej := c.check(r, now)
	if rej != nil {
		c.Release(ev)
		ev.held = 0
	}
	return ev, rej
}

// Release gives back the share of the Budget the event's body holds. Call it
// once, when nothing reads the body any more.
func (c *Checker) Release(ev Event) { c.Budget.Release(ev.held) }

func (c *Checker) check(r *http.Request, now time.Time) (Event, *Rejection) {
	var ev Event
	if r.Method != http.MethodPost {
		return ev, ErrMethod
	}
	if r.ContentLength > c.MaxBody {
		return ev, ErrTooLarge
	}
	start := time.Now()
	body, held, err := webhook.ReadBody(r.Body, r.ContentLength, c.MaxBody, c.Budget)
	// The bytes read so far, also when reading failed: a caller that passes
	// the request on anyway (report mode) puts them back in front of the
	// rest of the body.
	ev.Body = body
	read := time.Now()
	ev.Timing.Read = read.Sub(start)
	switch {
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return ev, ErrTooLarge
	case errors.Is(err, webhook.ErrBufferFull):
		return ev, ErrBufferFull
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ev, ErrBodyTimeout
	case err != nil:
		return ev, ErrBodyRead
	}
	ev.held = held

	idx, err := c.Verifier.Verify(body, c.signatureValues(r.Header))
	verified := time.Now()
	ev.Timing.Verify = verified.Sub(read)
	switch {
	case errors.Is(err, verifier.ErrNoSignature):
		return ev, ErrSigMissing
	case errors.Is(err, verifier.ErrMalformedSignature):
		return ev, ErrSigMalformed
	case err != nil:
		return ev, ErrSigMismatch
	}
	ev.SecretIndex = idx

	f, err := webhook.Parse(body)
	if err != nil {
		var pe *webhook.Error
		if errors.As(err, &pe) {
			if rej, ok := bodyRejections[pe]; ok {
				return ev, rej
			}
		}
		return ev, &Rejection{Status: http.StatusBadRequest, Reason: "body_invalid", Err: err}
	}
	ev.Fields = f

	// The event header is not signed; the body is the truth, and a request
	// where the two disagree is refused so that no reader can be misled.
	for _, v := range r.Header[canonicalEventHeader] {
		if v != string(f.Event) {
			return ev, ErrEventHeader
		}
	}

	if c.MaxAge > 0 {
		if rej := checkAge(f.CreatedAt, c.MaxAge, now); rej != nil {
			return ev, rej
		}
	}

	if c.Events != nil {
		if _, ok := c.Events[string(f.Event)]; !ok {
			ev.Ignored = true
		}
	}
	ev.Timing.Parse = time.Since(verified)
	return ev, nil
}

// canonicalEventHeader is looked up directly: Header.Values would
// canonicalize the mixed-case name on every request, which allocates.
var canonicalEventHeader = textproto.CanonicalMIMEHeaderKey(webhook.HeaderEvent)

// signatureValues returns the lines of the first configured signature header
// present in the request.
func (c *Checker) signatureValues(hdr http.Header) []string {
	c.canonOnce.Do(func() {
		c.canon = make([]string, len(c.SignatureHeaders))
		for i, name := range c.SignatureHeaders {
			c.canon[i] = textproto.CanonicalMIMEHeaderKey(name)
		}
	})
	for _, name := range c.canon {
		if v := hdr[name]; len(v) > 0 {
			return v
		}
	}
	return nil
}

// checkAge enforces the replay window on the signed created_at.
func checkAge(createdAt []byte, maxAge time.Duration, now time.Time) *Rejection {
	if createdAt == nil {
		return ErrCreatedAtMissing
	}
	t, err := time.Parse(time.RFC3339Nano, string(createdAt))
	if err != nil {
		return ErrCreatedAtInvalid
	}
	if now.Sub(t) > maxAge {
		return ErrCreatedAtTooOld
	}
	if t.Sub(now) > MaxFutureSkew {
		return ErrCreatedAtInFuture
	}
	return nil
}
