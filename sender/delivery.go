// Package sender produces ScreenshotCenter webhook deliveries the way the
// vendor describes them, and retries them with exponential backoff from a
// durable outbox.
//
// A delivery is persisted before its first attempt. Workers lease due
// deliveries; an attempt interrupted by a crash is found again when the
// outbox is reopened and made due at once, so a delivery is delivered at
// least once or ends failed or gone: it is never silently dropped. Receivers
// dedupe (the delivery id header is stable across attempts).
//
// The package does not import Caddy; caddymodule/screenshotcentersender is the glue.
package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// Headers the sender sets on every attempt besides the vendor's
// X-ScreenshotCenter-Event and X-ScreenshotCenter-Signature.
const (
	// HeaderDeliveryID carries the delivery id, stable across attempts,
	// for receivers that dedupe on it.
	HeaderDeliveryID = "X-ScreenshotCenter-Delivery-Id"
	// HeaderAttempt carries the attempt number, from 1.
	HeaderAttempt = "X-ScreenshotCenter-Delivery-Attempt"
	// DefaultUserAgent is the User-Agent of every attempt.
	DefaultUserAgent = "scgate-sender/1 (+https://github.com/scgate/scgate)"
)

// State is the state of a delivery.
type State string

// Delivery states. Pending deliveries are waiting for an attempt or in one;
// the others are final until a manual retry.
const (
	StatePending   State = "pending"
	StateDelivered State = "delivered"
	StateFailed    State = "failed"
	StateGone      State = "gone"
)

// final reports whether s is delivered, failed or gone.
func (s State) final() bool {
	return s == StateDelivered || s == StateFailed || s == StateGone
}

// States lists every state.
var States = []State{StatePending, StateDelivered, StateFailed, StateGone}

// ParseState returns the State named s.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown state %q (want pending, delivered, failed or gone)", s)
}

// Delivery is one event to deliver to one endpoint.
type Delivery struct {
	// ID is a UUIDv7, stable across attempts.
	ID string `json:"id"`
	// URL is the endpoint.
	URL string `json:"url"`
	// Event is the event name sent in X-ScreenshotCenter-Event.
	Event string `json:"event"`
	// Body is the exact body sent on every attempt. Never re-marshalled.
	Body []byte `json:"-"`
	// Secret is the HMAC-SHA256 signing secret. Never logged or printed.
	Secret []byte `json:"-"`
	// Attempts is how many attempts were made (or started) so far.
	Attempts int `json:"attempts"`
	// MaxAttempts is the attempt budget of this delivery, the `attempts`
	// option of whoever enqueued it (Attempts is taken by the count);
	// 0 means the sender's Schedule.Attempts.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Net are the network settings of the attempts (SSRF guard,
	// timeout); zero means the sender's default client.
	Net NetOptions `json:"net,omitzero"`
	// NextAttempt is when a pending delivery is due.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// State is the delivery state.
	State State `json:"state"`
	// CreatedAt is when the delivery was enqueued.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the delivery last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// LastStatus is the HTTP status of the last attempt, 0 if none.
	LastStatus int `json:"last_status,omitempty"`
	// LastError describes the last failed attempt.
	LastError string `json:"last_error,omitempty"`
	// LogCount is how many entries the attempt log holds.
	LogCount int `json:"log_count,omitempty"`

	// Headers are request headers stored with the delivery, for an
	// Options.Attempt that sends them (the inbox forwards the original
	// request's); nil for the sender's own deliveries, whose headers the
	// Client makes. Kept byte for byte in their own bucket, not in the
	// JSON record.
	Headers http.Header `json:"-"`
	// OrderKey, when set, puts the delivery in line behind the earlier
	// deliveries with the same key that are not final yet: one of a key
	// at a time, in the order they were enqueued (see order.go). A key
	// longer than maxOrderKey bytes or not valid UTF-8 is stored as
	// "sha256:" and its hex SHA-256.
	OrderKey string `json:"order_key,omitempty"`
	// OrderPos is the delivery's place in its key's line, set by the
	// outbox when it joins the line (Enqueue, Retry, Replay).
	OrderPos uint64 `json:"order_pos,omitempty"`
	// KeepNumbering makes attempt numbers (the attempt header and the
	// log's N) go on across retries and replays instead of starting at 1
	// again; the attempt budget starts again either way.
	KeepNumbering bool `json:"keep_numbering,omitempty"`
	// Earlier is how many attempts were counted before the last retry or
	// replay.
	Earlier int `json:"earlier_attempts,omitempty"`
	// QueuedAt is when the delivery was last queued: enqueued, retried or
	// replayed. Zero in records written before it existed (then
	// CreatedAt).
	QueuedAt time.Time `json:"queued_at,omitzero"`

	// Scheme, if set, is the provider scheme (a name of the scheme
	// package, as the receiver's scheme option takes it) that signs each
	// attempt instead of X-ScreenshotCenter-Event and
	// X-ScreenshotCenter-Signature: that provider's signature headers,
	// with Secret in its format, and its event header (Event) where it
	// has one. Each attempt is signed anew, so a scheme that signs a
	// timestamp signs each retry at its own time, as the providers do.
	// Empty: ScreenshotCenter's. Check it with SigningScheme.
	Scheme string `json:"scheme,omitempty"`
}

// SigningScheme builds the scheme named name with the one secret a
// delivery is signed with: a known scheme that takes the secret and can
// sign with it (not a public key: scheme.CheckCanSign). Its errors name
// "secret 0" (a scheme.SecretFormatError), never the value.
func SigningScheme(name string, secret []byte) (scheme.Scheme, error) {
	s, err := scheme.New(name, scheme.Config{Secrets: [][]byte{secret}})
	if err != nil {
		return nil, err
	}
	if err := scheme.CheckCanSign(s, 1); err != nil {
		return nil, err
	}
	return s, nil
}

// sign sets the signature headers of an attempt of d made now.
func (d *Delivery) sign(h http.Header, now time.Time) error {
	if d.Scheme == "" || d.Scheme == scheme.ScreenshotCenter {
		h.Set(webhook.HeaderEvent, d.Event)
		h.Set(webhook.HeaderSignature, verifier.Sign(d.Secret, d.Body))
		return nil
	}
	s, err := SigningScheme(d.Scheme, d.Secret)
	if err != nil {
		return err
	}
	if eh, ok := s.(scheme.EventHeaderer); ok {
		h.Set(eh.EventHeader(), d.Event)
	}
	s.Sign(h, 0, d.Body, now)
	return nil
}

// Number returns the number of the delivery's current attempt (the one
// counted last): Attempts, plus Earlier when KeepNumbering is set.
func (d *Delivery) Number() int {
	if d.KeepNumbering {
		return d.Earlier + d.Attempts
	}
	return d.Attempts
}

// Queued returns when d was last queued: QueuedAt, or CreatedAt for a
// record written before QueuedAt existed.
func (d *Delivery) Queued() time.Time {
	if d.QueuedAt.IsZero() {
		return d.CreatedAt
	}
	return d.QueuedAt
}

// Outcome is what one attempt led to.
type Outcome string

// Attempt outcomes.
const (
	OutcomeDelivered   Outcome = "delivered"
	OutcomeRetry       Outcome = "retry"
	OutcomeFailed      Outcome = "failed"
	OutcomeGone        Outcome = "gone"
	OutcomeInterrupted Outcome = "interrupted"
)

// Attempt is one entry of a delivery's attempt log.
type Attempt struct {
	// N is the attempt number, from 1.
	N int `json:"n"`
	// Start is when the request was sent.
	Start time.Time `json:"start"`
	// Latency is how long the attempt took, response body included.
	Latency time.Duration `json:"latency"`
	// Status is the HTTP status, 0 when no response came.
	Status int `json:"status,omitempty"`
	// Kind is the status class (2xx, 3xx, 4xx, 5xx) or why no answer
	// came (timeout, refused, blocked, error, interrupted): one of the
	// Kind constants.
	Kind string `json:"kind,omitempty"`
	// Location is where a 3xx answer pointed; it was not followed.
	Location string `json:"location,omitempty"`
	// Error describes a transport failure or a non-2xx answer.
	Error string `json:"error,omitempty"`
	// Response is the start of the response body, at most the client's
	// MaxResponseBytes.
	Response string `json:"response,omitempty"`
	// Truncated is set when the response body was longer than Response.
	Truncated bool `json:"truncated,omitempty"`
	// RetryAfter is the endpoint's Retry-After, when it sent one with 429
	// or 503, after bounding.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Outcome is what the attempt led to.
	Outcome Outcome `json:"outcome"`
	// NextWait is the wait before the next attempt when Outcome is retry.
	NextWait time.Duration `json:"next_wait,omitempty"`
}

// Errors of the Go API.
var (
	ErrNotFound      = errors.New("delivery not found")
	ErrNotRetryable  = errors.New("only failed or gone deliveries can be retried")
	ErrNotReplayable = errors.New("only delivered, failed or gone deliveries can be replayed")
	ErrInvalidURL    = errors.New("endpoint URL must be absolute http or https")
	ErrEmptySecret   = errors.New("secret must not be empty")
	// ErrWeakSecret matches a secret NewDelivery refused as blank or
	// shorter than verifier.MinSecretLength bytes.
	ErrWeakSecret    = verifier.ErrWeakSecret
	ErrEmptyBody     = errors.New("body must not be empty")
	ErrInvalidEvent  = errors.New("event name must be non-empty printable ASCII")
	ErrClosed        = errors.New("outbox closed")
	ErrReadOnly      = errors.New("outbox opened read-only")
	ErrStoreLocked   = errors.New("outbox file is locked by another process (a running scgate?)")
	ErrInvalidFormat = errors.New("corrupt outbox record")
	// ErrDamaged is returned by OpenOutbox for a file that is not a
	// consistent outbox: empty, truncated, or with damaged pages.
	ErrDamaged = errors.New("outbox file is damaged")
)

// NewDelivery validates its arguments and returns a pending delivery with a
// fresh UUIDv7 id, due at now. body and secret are copied.
func NewDelivery(endpoint, eventName string, body, secret []byte, now time.Time) (*Delivery, error) {
	if err := CheckURL(endpoint); err != nil {
		return nil, err
	}
	if !validEvent(eventName) {
		return nil, ErrInvalidEvent
	}
	if len(body) == 0 {
		return nil, ErrEmptyBody
	}
	if len(secret) == 0 {
		return nil, ErrEmptySecret
	}
	if err := verifier.CheckSecret(secret); err != nil {
		return nil, fmt.Errorf("secret %w", err)
	}
	d, err := NewPending(endpoint, body, now)
	if err != nil {
		return nil, err
	}
	d.Event, d.Secret = eventName, append([]byte(nil), secret...)
	return d, nil
}

// NewPending returns a pending delivery of body (copied) to endpoint with
// a fresh UUIDv7 id, due at now, and nothing else set: for a caller that
// validates its own fields (the inbox).
func NewPending(endpoint string, body []byte, now time.Time) (*Delivery, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	return &Delivery{
		ID:          id.String(),
		URL:         endpoint,
		Body:        append([]byte(nil), body...),
		State:       StatePending,
		NextAttempt: now,
		CreatedAt:   now,
		UpdatedAt:   now,
		QueuedAt:    now,
	}, nil
}

// CheckURL reports whether endpoint is an absolute http or https URL with a
// host.
func CheckURL(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return ErrInvalidURL
	}
	return nil
}

func validEvent(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// endpointKey groups deliveries for the per-endpoint concurrency limit.
func endpointKey(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	return u.Scheme + "://" + strings.ToLower(u.Host)
}

// The state machine of a delivery: an attempt's Result becomes an Attempt
// (attemptFrom), the schedule decides its outcome (Schedule.decide, or
// interrupted when the sender stopped), and Apply moves the delivery to its
// next state.

// interrupted reports whether res is an attempt cut short by ctx ending:
// no answer (no status) and a cancellation error. An attempt that got an
// answer is decided by the answer, whatever ctx says.
func interrupted(ctx context.Context, res *Result) bool {
	return res.Status == 0 && ctx.Err() != nil && errors.Is(res.Err, context.Canceled)
}

// attemptFrom turns a Result into an attempt log entry (without outcome).
func attemptFrom(res *Result, n int) Attempt {
	a := Attempt{
		N:          n,
		Start:      res.Start,
		Latency:    res.Latency,
		Status:     res.Status,
		Kind:       res.Kind,
		Location:   res.Location,
		Response:   string(res.Response),
		Truncated:  res.Truncated,
		RetryAfter: res.RetryAfter,
	}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	return a
}

// Apply records attempt a's outcome in d at now: its last status and
// error, its state and when it is next due. An interrupted attempt is
// not counted.
func (d *Delivery) Apply(a Attempt, now time.Time) {
	if a.Outcome == OutcomeInterrupted && d.Attempts > 0 {
		d.Attempts--
	}
	d.LastStatus = a.Status
	d.LastError = a.Error
	d.UpdatedAt = now
	d.LogCount++
	switch a.Outcome {
	case OutcomeDelivered:
		d.State, d.NextAttempt = StateDelivered, time.Time{}
	case OutcomeGone:
		d.State, d.NextAttempt = StateGone, time.Time{}
	case OutcomeFailed:
		d.State, d.NextAttempt = StateFailed, time.Time{}
	case OutcomeRetry:
		d.State, d.NextAttempt = StatePending, now.Add(a.NextWait)
	case OutcomeInterrupted:
		d.State, d.NextAttempt = StatePending, now
	}
}

// StateError is an action refused for the state of delivery ID: Err is
// ErrNotRetryable, ErrNotReplayable, ErrNotPending or ErrHeldBack. The
// inbox words it for its entries.
type StateError struct {
	Err   error
	ID    string
	State State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("%v (delivery %s is %s)", e.Err, e.ID, e.State)
}

// Unwrap returns Err.
func (e *StateError) Unwrap() error { return e.Err }
