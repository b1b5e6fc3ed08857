package scheme

import (
	"time"

	"github.com/scgate/scgate/refusal"
)

// DefaultMaxAge is the replay window of a scheme that signs a timestamp in
// a header (Standard Webhooks, Slack, Discord) when Config.MaxAge is 0: the
// window the providers' own libraries apply.
const DefaultMaxAge = 5 * time.Minute

// maxUnixDigits bounds the digits of a signed unix time: 12 reach the year
// 33658, and no more can overflow.
const maxUnixDigits = 12

// unixTime reads the one line of a signed timestamp header: a unix time in
// whole seconds, written in decimal as the providers write it (no sign, no
// leading zero, no space), so that the text signed has one reading. Missing
// is ErrTimestampMissing; repeated, empty or any other text is
// ErrTimestampInvalid.
func unixTime(lines []string) (string, time.Time, *refusal.Refusal) {
	if len(lines) == 0 {
		return "", time.Time{}, ErrTimestampMissing
	}
	v := lines[0]
	if len(lines) > 1 || len(v) == 0 || len(v) > maxUnixDigits || (v[0] == '0' && len(v) > 1) {
		return "", time.Time{}, ErrTimestampInvalid
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return "", time.Time{}, ErrTimestampInvalid
		}
		n = n*10 + int64(c-'0')
	}
	return v, time.Unix(n, 0), nil
}

// checkWindow is the replay window on a signed timestamp t, checked once
// the signature is known to be good: older than maxAge (DefaultMaxAge when
// 0) is ErrTimestampTooOld, more than MaxFutureSkew ahead of now is
// ErrTimestampInFuture.
func checkWindow(t time.Time, maxAge time.Duration, now time.Time) *refusal.Refusal {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if now.Sub(t) > maxAge {
		return ErrTimestampTooOld
	}
	if t.Sub(now) > MaxFutureSkew {
		return ErrTimestampInFuture
	}
	return nil
}
