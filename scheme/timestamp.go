package scheme

import (
	"time"

	"github.com/scgate/scgate/refusal"
)

// timestampHeader reads the one line of a scheme's signed timestamp header
// (Standard Webhooks', Slack's, Discord's) with ParseUnix: missing is
// ErrTimestampMissing, repeated or not Unix seconds ErrTimestampInvalid.
// The text is returned as sent: it is what the signature covers.
func timestampHeader(lines []string) (string, time.Time, *refusal.Refusal) {
	if len(lines) == 0 {
		return "", time.Time{}, ErrTimestampMissing
	}
	t, ok := ParseUnix(lines[0])
	if len(lines) > 1 || !ok {
		return "", time.Time{}, ErrTimestampInvalid
	}
	return lines[0], t, nil
}

// replayWindow is Config.MaxAge for a scheme that signs a timestamp in a
// header: DefaultMaxAge when not set.
func replayWindow(maxAge time.Duration) time.Duration {
	if maxAge == 0 {
		return DefaultMaxAge
	}
	return maxAge
}
