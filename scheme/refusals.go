package scheme

import (
	"net/http"

	"github.com/scgate/scgate/refusal"
)

// The refusals every scheme's Verify uses.
var (
	ErrSigMissing   = refusal.New(http.StatusUnauthorized, "signature_missing", "no signature header")
	ErrSigMalformed = refusal.New(http.StatusUnauthorized, "signature_malformed", "malformed signature header")
	ErrSigMismatch  = refusal.New(http.StatusUnauthorized, "signature_mismatch", "no secret matches the signature")
)

// The refusals of a signed timestamp header (Standard Webhooks, Slack,
// Discord), shared by every scheme that signs one.
var (
	ErrTimestampMissing  = refusal.New(http.StatusUnauthorized, "timestamp_missing", "the scheme's signed timestamp header is missing")
	ErrTimestampInvalid  = refusal.New(http.StatusUnauthorized, "timestamp_invalid", "the signed timestamp is not one unix time in decimal seconds")
	ErrTimestampTooOld   = refusal.New(http.StatusUnauthorized, "timestamp_too_old", "the signed timestamp is older than max_age")
	ErrTimestampInFuture = refusal.New(http.StatusUnauthorized, "timestamp_in_future", "the signed timestamp is too far in the future")
)

// The refusals of a body without the event type its scheme reads (the
// body's "type" for Standard Webhooks, Slack and Discord).
var (
	ErrTypeMissing = refusal.New(http.StatusBadRequest, "type_missing", "the body has no event type where its scheme reads it")
	ErrTypeInvalid = refusal.New(http.StatusBadRequest, "type_invalid", "the body's event type is empty or of the wrong JSON type")
)
