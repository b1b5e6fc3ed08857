package sender

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Schedule defaults.
const (
	DefaultAttempts      = 5
	DefaultJitter        = 0.2
	DefaultMaxRetryAfter = time.Hour
)

// DefaultBackoff are the waits before attempts 2 to 5: roughly 10s, 1m, 5m
// and 30m. The first attempt is made at once.
var DefaultBackoff = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute}

// Schedule says how many attempts a delivery gets and how long to wait
// between them. The zero value is the default schedule.
type Schedule struct {
	// Attempts is the attempt budget of a delivery, the first included.
	// Default 5.
	Attempts int
	// Backoff are the waits before the second, third, ... attempt; the
	// last one repeats when there are more attempts than waits. Default
	// DefaultBackoff.
	Backoff []time.Duration
	// Jitter spreads each wait uniformly by ± this fraction, so that
	// deliveries that failed together do not retry together. Default 0.2.
	Jitter float64
	// NoJitter disables jitter (for tests and reproducible runs).
	NoJitter bool
	// MaxRetryAfter bounds the wait an endpoint's Retry-After can impose
	// (the backoff delay still applies when it is longer). Default 1h.
	MaxRetryAfter time.Duration
}

// ScaledBackoff returns DefaultBackoff scaled so that the first wait is
// initial: 10s gives 10s, 1m, 5m, 30m; 100ms gives 100ms, 600ms, 3s, 18s.
func ScaledBackoff(initial time.Duration) []time.Duration {
	out := make([]time.Duration, len(DefaultBackoff))
	for i, d := range DefaultBackoff {
		out[i] = time.Duration(float64(initial) * float64(d) / float64(DefaultBackoff[0]))
	}
	return out
}

func (s Schedule) withDefaults() Schedule {
	if s.Attempts <= 0 {
		s.Attempts = DefaultAttempts
	}
	if len(s.Backoff) == 0 {
		s.Backoff = DefaultBackoff
	}
	if s.Jitter <= 0 || s.Jitter >= 1 {
		s.Jitter = DefaultJitter
	}
	if s.MaxRetryAfter <= 0 {
		s.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return s
}

// Delay returns the wait after the failed attempt n (from 1), jittered.
func (s Schedule) Delay(n int) time.Duration {
	s = s.withDefaults()
	i := n - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s.Backoff) {
		i = len(s.Backoff) - 1
	}
	d := s.Backoff[i]
	if s.NoJitter || d <= 0 {
		return d
	}
	f := 1 - s.Jitter + 2*s.Jitter*rand.Float64()
	return time.Duration(float64(d) * f)
}

// decide turns the result of attempt n into an outcome and, for a retry,
// the wait before the next attempt.
func (s Schedule) decide(res *Result, n, maxAttempts int) (Outcome, time.Duration) {
	s = s.withDefaults()
	if maxAttempts <= 0 {
		maxAttempts = s.Attempts
	}
	switch {
	case res.Status >= 200 && res.Status < 300 && res.Err == nil:
		return OutcomeDelivered, 0
	case res.Status == http.StatusGone:
		return OutcomeGone, 0
	case errors.Is(res.Err, ErrForbiddenAddress):
		// The SSRF guard refused the address: retrying will not help.
		return OutcomeFailed, 0
	}
	if n >= maxAttempts {
		return OutcomeFailed, 0
	}
	wait := s.Delay(n)
	if ra := min(res.RetryAfter, s.MaxRetryAfter); ra > wait {
		wait = ra
	}
	return OutcomeRetry, wait
}

// Judge turns the result of an attempt into its log entry numbered n,
// with the outcome the schedule gives it as the counted-th attempt of a
// budget of maxAttempts (0: the schedule's), or interrupted when ctx ended
// before an answer came. An answer decides, even one that came as the
// caller stopped: a 2xx is delivered, not sent again.
func (s Schedule) Judge(ctx context.Context, res *Result, n, counted, maxAttempts int) Attempt {
	a := attemptFrom(res, n)
	if interrupted(ctx, res) {
		a.Outcome, a.Kind = OutcomeInterrupted, KindInterrupted
		a.Error = "attempt interrupted (sender stopped); not counted"
		return a
	}
	a.Outcome, a.NextWait = s.decide(res, counted, maxAttempts)
	return a
}

// parseRetryAfter reads a Retry-After value (delay-seconds or an HTTP date)
// and bounds it to [0, max]. It returns 0 when the value is absent or
// unusable.
func parseRetryAfter(v string, now time.Time, max time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	secs, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && secs > 0:
		// A valid delay-seconds too large for int64: as long as can be.
		return max
	case err == nil:
		if secs <= 0 {
			return 0
		}
		if secs > int64(max/time.Second) {
			return max
		}
		d = time.Duration(secs) * time.Second
	default:
		t, err := http.ParseTime(v)
		if err != nil {
			return 0
		}
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	if d > max {
		return max
	}
	return d
}
