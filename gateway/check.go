// Package gateway holds the receiver's request checks in plain Go: method,
// size, signature, body, replay window and event allowlist, in the order the
// contract gives. The Caddy handler calls Check and then does the dedupe and
// forwarding glue; everything here is testable without Caddy.
package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/scgate/scgate/refusal"
	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/webhook"
)

// MaxFutureSkew is how far in the future a signed created_at may be when
// max_age is set (the scheme's).
const MaxFutureSkew = scheme.MaxFutureSkew

// Checker checks webhook requests. It is safe for concurrent use once built.
type Checker struct {
	// Scheme verifies the signature (with the secrets and the replay
	// window) and reads the verified request. Required.
	Scheme scheme.Scheme
	// MaxBody is the largest accepted body in bytes.
	MaxBody int64
	// Events, if not nil, is the allowlist of events to forward.
	Events map[string]struct{}
	// Budget, if not nil, bounds the body bytes buffered by all requests at
	// once and by the requests of one client (shared by every Checker of
	// the process).
	Budget *webhook.Budget
	// Streams, if not nil, bounds the bodies of one HTTP/2 or HTTP/3
	// connection read at once (shared by every Checker of the process).
	Streams *Streams
	// BodyTimeout, if positive, bounds the time to read the whole body.
	BodyTimeout time.Duration
	// MinRate, if positive, is the lowest average rate a body may arrive
	// at, in bytes per second, after BodyGrace (see webhook.Pace).
	MinRate int64
}

// Rejection is a request the gateway refuses, with the status to answer and
// a stable reason code for logs and metrics: the one refusal type.
type Rejection = refusal.Refusal

func reject(status int, reason, msg string) *Rejection { return refusal.New(status, reason, msg) }

// BodyGrace is the allowance for a body's first bytes before MinRate
// applies: the n-th byte must have arrived BodyGrace plus n/MinRate seconds
// after the gateway started reading.
const BodyGrace = 2 * time.Second

// The rejections that do not depend on the body's content.
var (
	ErrMethod           = reject(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is accepted")
	ErrTooLarge         = reject(http.StatusRequestEntityTooLarge, "body_too_large", "body larger than max_body")
	ErrBodyRead         = reject(http.StatusBadRequest, "body_read_failed", "reading the request body failed")
	ErrBodyTimeout      = reject(http.StatusRequestTimeout, "body_timeout", "the body did not arrive within body_timeout")
	ErrBodyTooSlow      = reject(http.StatusRequestTimeout, "body_too_slow", "the body arrived slower than body_min_rate")
	ErrBufferFull       = reject(http.StatusServiceUnavailable, "buffer_full", "the gateway buffers too many bodies right now")
	ErrClientBufferFull = reject(http.StatusServiceUnavailable, "client_buffer_full", "this client's bodies hold its whole share of the buffer budget")
	ErrTooManyStreams   = reject(http.StatusServiceUnavailable, "too_many_streams", "the gateway reads max_streams_per_connection bodies of this connection already")
)

// The refusals of the signature and of ScreenshotCenter's rules, made by
// the scheme package (names kept for the callers that know them).
var (
	ErrSigMissing        = scheme.ErrSigMissing
	ErrSigMalformed      = scheme.ErrSigMalformed
	ErrSigMismatch       = scheme.ErrSigMismatch
	ErrEventHeader       = scheme.ErrEventHeader
	ErrCreatedAtMissing  = scheme.ErrCreatedAtMissing
	ErrCreatedAtInvalid  = scheme.ErrCreatedAtInvalid
	ErrCreatedAtTooOld   = scheme.ErrCreatedAtTooOld
	ErrCreatedAtInFuture = scheme.ErrCreatedAtInFuture
)

// Event is a request that passed every check.
type Event struct {
	// Body is the exact raw body.
	Body []byte
	// Signed is what the scheme read of the verified request: the event
	// type, its signed fields and timestamp.
	Signed scheme.Event
	// SecretIndex is the index of the secret whose signature matched.
	SecretIndex int
	// Ignored is set when an allowlist is configured and does not hold the
	// event: it is acknowledged, not forwarded.
	Ignored bool
	// Timing is how long the phases of Check took.
	Timing Timing
	// hold is the share of the Checker's Budget that Body holds.
	hold webhook.Hold
}

// Timing is the time Check spent reading the body, verifying the signature,
// and parsing the body with the checks after it.
type Timing struct {
	Read, Verify, Parse time.Duration
}

// Source is what the server knows of where a request comes from, beyond
// the request itself.
type Source struct {
	// ClientIP is the client's address as the server determined it (Caddy's
	// client_ip, which follows trusted_proxies); "": r.RemoteAddr's.
	ClientIP string
	// SetReadDeadline sets the read deadline of the request's body
	// (http.ResponseController.SetReadDeadline); nil: the body is read
	// without BodyTimeout and MinRate.
	SetReadDeadline func(time.Time) error
}

// Check reads r's body (never past MaxBody, within BodyTimeout and MinRate,
// the Budget and Streams) and runs every check in the contract's order:
// method, size, signature (before anything parses the body), body fields,
// event header, replay window, allowlist. An accepted event holds its
// body's share of the Budget until Release; a rejected one holds nothing.
func (c *Checker) Check(r *http.Request, src Source, now time.Time) (Event, *Rejection) {
	ev, rej := c.check(r, src, now)
	if rej != nil {
		ev.hold.Release()
	}
	return ev, rej
}

// Release gives back the share of the Budget the event's body holds. Call it
// once, when nothing reads the body any more.
func (c *Checker) Release(ev Event) { ev.hold.Release() }

func (c *Checker) check(r *http.Request, src Source, now time.Time) (Event, *Rejection) {
	var ev Event
	if r.Method != http.MethodPost {
		return ev, ErrMethod
	}
	if r.ContentLength > c.MaxBody {
		return ev, ErrTooLarge
	}
	start := time.Now()
	body, err := c.readBody(r, src, start, &ev.hold)
	// The bytes read so far, also when reading failed: a caller that passes
	// the request on anyway (report mode) puts them back in front of the
	// rest of the body.
	ev.Body = body
	read := time.Now()
	ev.Timing.Read = read.Sub(start)
	switch {
	case errors.Is(err, errTooManyStreams):
		return ev, ErrTooManyStreams
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return ev, ErrTooLarge
	case errors.Is(err, webhook.ErrBufferFull):
		return ev, ErrBufferFull
	case errors.Is(err, webhook.ErrClientShareFull):
		return ev, ErrClientBufferFull
	case errors.Is(err, webhook.ErrTooSlow):
		return ev, ErrBodyTooSlow
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ev, ErrBodyTimeout
	case err != nil:
		return ev, ErrBodyRead
	}

	req := scheme.Request{Header: r.Header, Body: body, Now: now}
	idx, rej := c.Scheme.Verify(req)
	verified := time.Now()
	ev.Timing.Verify = verified.Sub(read)
	if rej != nil {
		return ev, rej
	}
	ev.SecretIndex = idx

	signed, rej := c.Scheme.Read(req)
	if rej != nil {
		return ev, rej
	}
	ev.Signed = signed
	if c.Events != nil {
		if _, ok := c.Events[string(ev.Signed.Type)]; !ok {
			ev.Ignored = true
		}
	}
	ev.Timing.Parse = time.Since(verified)
	return ev, nil
}

// ReadUnsigned reads body, with the request headers h, as Check reads a
// verified request: every check after the signature's (the body's shape,
// the scheme's event header rules, ScreenshotCenter's
// X-ScreenshotCenter-Event agreeing with the body). It is what a sender
// (the sidecar's intake, `scgate send`) checks before it signs and stores
// or sends a body, so that it never sends one the receiver refuses. A
// scheme reads its signed timestamp and id from its signature headers, so
// a copy of h is signed with sch's secret 0 first: sch must be able to
// sign with it (scheme.CheckCanSign).
func ReadUnsigned(sch scheme.Scheme, h http.Header, body []byte, now time.Time) (scheme.Event, *Rejection) {
	signed := h.Clone()
	if signed == nil {
		signed = http.Header{}
	}
	sch.Sign(signed, 0, body, now)
	return sch.Read(scheme.Request{Header: signed, Body: body, Now: now})
}

// readBody reads r's body into hold, charged to its client, under the
// stream bound and the body's pace (both lifted again once it is read).
func (c *Checker) readBody(r *http.Request, src Source, start time.Time, hold *webhook.Hold) ([]byte, error) {
	ip := src.ClientIP
	if ip == "" {
		ip = r.RemoteAddr
	}
	client := ClientKey(ip)
	if r.ProtoMajor >= 2 && c.Streams != nil {
		// The connection (its remote address) and the client: behind a
		// trusted proxy that multiplexes clients over one connection, each
		// client has its own bound.
		conn := r.RemoteAddr + " " + client
		if !c.Streams.enter(conn) {
			return nil, errTooManyStreams
		}
		defer c.Streams.leave(conn)
	}
	*hold = c.Budget.Hold(client)
	var body io.Reader = r.Body
	if src.SetReadDeadline != nil && (c.BodyTimeout > 0 || c.MinRate > 0) {
		pace := webhook.Pace{Start: start, Grace: BodyGrace, MinRate: c.MinRate, SetReadDeadline: src.SetReadDeadline}
		if c.BodyTimeout > 0 {
			pace.End = start.Add(c.BodyTimeout)
		}
		pr := pace.Reader(r.Body)
		defer pr.Done()
		body = pr
	}
	return webhook.ReadBody(body, r.ContentLength, c.MaxBody, hold)
}
