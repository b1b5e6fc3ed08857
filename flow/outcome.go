package flow

import (
	"errors"
	"net/http"

	"github.com/scgate/scgate/gateway"
)

// The outcomes, as in the outcome placeholder, the X-Scgate-Outcome header
// and the metrics' outcome label.
const (
	Forwarded      = "forwarded"
	Queued         = "queued"
	UpstreamFailed = "upstream_failed"
	Duplicate      = "duplicate"
	InFlight       = "in_flight"
	Ignored        = "ignored"
	Rejected       = "rejected"
	Unavailable    = "unavailable"
)

// Outcomes lists every outcome, for metrics that want each one up front.
var Outcomes = []string{Forwarded, Queued, UpstreamFailed, Duplicate, InFlight, Ignored, Rejected, Unavailable}

// Outcome is what became of one request: the one record that every
// answered request ends in, whatever answered it (a check, the store, the
// deliverer), for the caller's one outcome hook (answer, metrics, log,
// event log).
type Outcome struct {
	// Name is the outcome (Forwarded, Duplicate, ...).
	Name string
	// Reason is the reason code of a refusal ("" for forwarded, queued,
	// duplicate and ignored).
	Reason string
	// Status is what the gateway answers when it answers itself, or the
	// status the deliverer got.
	Status int
	// RetryAfter, in seconds, goes with a 503 or a 409 ("" for none).
	RetryAfter string
	// Key is the event's dedupe key, when it has one by then.
	Key gateway.Key
	// Err says what went wrong, for the log (never shown to clients).
	Err error
	// FailOpen: delivered without dedupe, because the store failed and
	// on_error is open.
	FailOpen bool
	// Rejection is the failed check, for a rejected request.
	Rejection *gateway.Rejection
	// DeliveryID is the inbox entry of a queued event ("" otherwise).
	DeliveryID string
}

// Reason codes of outcomes that are not about the request itself (those
// of the checks are in the gateway package).
const (
	ReasonStoreFull  = "dedupe_store_full"
	ReasonStoreError = "dedupe_store_error"
	ReasonNoUpstream = "no_upstream_response"
)

// StoreRetryAfter is the Retry-After, in seconds, of a 503 for a store
// that failed: it is back within this.
const StoreRetryAfter = "30"

var (
	errInFlight  = errors.New("a copy of this event is being delivered")
	errStoreFull = errors.New("dedupe store is full of events in flight")
)

// The outcomes of a claim that stops the event.
var (
	duplicate  = Outcome{Name: Duplicate, Status: http.StatusOK}
	inFlight   = Outcome{Name: InFlight, Reason: InFlight, Status: http.StatusConflict, Err: errInFlight}
	storeFull  = Outcome{Name: Unavailable, Reason: ReasonStoreFull, Status: http.StatusServiceUnavailable, RetryAfter: StoreRetryAfter, Err: errStoreFull}
	storeError = Outcome{Name: Unavailable, Reason: ReasonStoreError, Status: http.StatusServiceUnavailable, RetryAfter: StoreRetryAfter}
)

// IgnoredOutcome is the outcome of an event the allowlist does not hold.
var IgnoredOutcome = Outcome{Name: Ignored, Status: http.StatusOK}

// BufferRetryAfter is the Retry-After, in seconds, of a 503 for lack of
// room to read a body: other bodies are read by then (body_timeout).
const BufferRetryAfter = "10"

// Refused is the outcome of a failed check. A refusal for lack of room
// (the body budget, the streams bound) is unavailable, not rejected: the
// request may be fine, and its sender retries.
func Refused(rej *gateway.Rejection) Outcome {
	o := Outcome{Name: Rejected, Reason: rej.Reason, Status: rej.Status, Err: rej.Err, Rejection: rej}
	if rej.Status == http.StatusServiceUnavailable {
		o.Name, o.RetryAfter = Unavailable, BufferRetryAfter
	}
	return o
}
