package scheme

import (
	"net/http"
	"strconv"
	"time"

	"github.com/scgate/scgate/refusal"
)

// The refusals every scheme's Verify uses.
var (
	ErrSigMissing   = refusal.New(http.StatusUnauthorized, "signature_missing", "no signature header")
	ErrSigMalformed = refusal.New(http.StatusUnauthorized, "signature_malformed", "malformed signature header")
	ErrSigMismatch  = refusal.New(http.StatusUnauthorized, "signature_mismatch", "no secret matches the signature")
)

// The refusals of a signed timestamp outside the replay window (max_age),
// for the schemes that sign one (Stripe's t=, Standard Webhooks',
// Slack's, Discord's timestamp headers). They come after the signature
// matched, so a request nobody signed learns nothing about the window.
var (
	ErrTimestampMissing  = refusal.New(http.StatusUnauthorized, "timestamp_missing", "the signed timestamp is missing")
	ErrTimestampInvalid  = refusal.New(http.StatusUnauthorized, "timestamp_invalid", "the signed timestamp is not a Unix time in seconds")
	ErrTimestampTooOld   = refusal.New(http.StatusUnauthorized, "timestamp_too_old", "the signed timestamp is older than max_age")
	ErrTimestampInFuture = refusal.New(http.StatusUnauthorized, "timestamp_in_future", "the signed timestamp is more than five minutes in the future")
)

// The refusals of a request of the wrong shape for its scheme, after the
// signature matched.
var (
	ErrEventHeaderMissing = refusal.New(http.StatusBadRequest, "event_header_missing", "the scheme's event header is missing")
	ErrEventHeaderInvalid = refusal.New(http.StatusBadRequest, "event_header_invalid", "the scheme's event header is repeated, empty or not printable ASCII")
	ErrFieldMissing       = refusal.New(http.StatusBadRequest, "body_field_missing", "the body lacks a string field the scheme reads (its event type or id)")
)

// ParseUnix reads a Unix time in seconds written in decimal digits only
// (no sign, no fraction, at most 12 digits), as every timestamped scheme
// sends it.
func ParseUnix(s string) (time.Time, bool) {
	if s == "" || len(s) > 12 {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// CheckWindow is the replay window on a signed timestamp t: older than
// maxAge, or more than MaxFutureSkew ahead of now, is refused.
func CheckWindow(t time.Time, maxAge time.Duration, now time.Time) *refusal.Refusal {
	if now.Sub(t) > maxAge {
		return ErrTimestampTooOld
	}
	if t.Sub(now) > MaxFutureSkew {
		return ErrTimestampInFuture
	}
	return nil
}

// eventHeader reads a scheme's unsigned event header: exactly one line,
// not empty, printable ASCII without spaces.
func eventHeader(h http.Header, canonical string) ([]byte, *refusal.Refusal) {
	lines := h[canonical]
	switch {
	case len(lines) == 0:
		return nil, ErrEventHeaderMissing
	case len(lines) > 1 || lines[0] == "":
		return nil, ErrEventHeaderInvalid
	}
	v := lines[0]
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return nil, ErrEventHeaderInvalid
		}
	}
	return []byte(v), nil
}
