package sender

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestDecideRetryAfterWins(t *testing.T) {
	s := Schedule{Backoff: []time.Duration{time.Millisecond}, NoJitter: true}
	out, wait := s.decide(&Result{Status: 429, Err: errors.New("HTTP 429"), RetryAfter: 3 * time.Second}, 1, 5)
	if out != OutcomeRetry || wait != 3*time.Second {
		t.Fatalf("decide = %s %v, want retry 3s", out, wait)
	}
	out, _ = s.decide(&Result{Status: 429, RetryAfter: 3 * time.Second}, 5, 5)
	if out != OutcomeFailed {
		t.Fatalf("last attempt: %s, want failed", out)
	}
}

func TestScheduleDefaults(t *testing.T) {
	s := Schedule{NoJitter: true}
	want := []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i, w := range want {
		if got := s.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	j := Schedule{}
	for i := 0; i < 100; i++ {
		if d := j.Delay(1); d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jittered Delay(1) = %v, want 8s..12s", d)
		}
	}
	if got := ScaledBackoff(100 * time.Millisecond); got[1] != 600*time.Millisecond || got[3] != 18*time.Second {
		t.Errorf("ScaledBackoff(100ms) = %v", got)
	}
}

// Schedule.MaxRetryAfter bounds the wait a Retry-After imposes; the
// backoff delay still applies when it is longer.
func TestMaxRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", r.URL.Query().Get("retry_after"))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := testClient(t, ClientOptions{})
	for _, tc := range []struct {
		name       string
		retryAfter string
		sched      Schedule
		want       time.Duration
	}{
		{"default bound: the endpoint's 3000s", "3000", Schedule{NoJitter: true, Backoff: []time.Duration{time.Second}}, 3000 * time.Second},
		{"bounded to 1m", "3000", Schedule{NoJitter: true, Backoff: []time.Duration{time.Second}, MaxRetryAfter: time.Minute}, time.Minute},
		{"backoff longer than the bound", "3000", Schedule{NoJitter: true, Backoff: []time.Duration{2 * time.Minute}, MaxRetryAfter: time.Minute}, 2 * time.Minute},
		{"beyond int64: the default bound", "99999999999999999999", Schedule{NoJitter: true, Backoff: []time.Duration{time.Second}}, DefaultMaxRetryAfter},
		{"beyond int64: bounded to 1m", "99999999999999999999", Schedule{NoJitter: true, Backoff: []time.Duration{time.Second}, MaxRetryAfter: time.Minute}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDelivery(t, srv.URL+"/?retry_after="+tc.retryAfter)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got time.Duration
			Deliver(ctx, c, tc.sched, d, func(_ *Delivery, a Attempt) { got = a.NextWait; cancel() })
			if got != tc.want {
				t.Fatalf("next wait %v, want %v", got, tc.want)
			}
		})
	}
}

// parseRetryAfter reads delay-seconds and HTTP dates and bounds them to
// [0, max]; a number of seconds too large for int64 is still a valid
// delay-seconds (RFC 9110 §10.2.3: 1*DIGIT) and is capped at max, not
// ignored.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 2, 22, 14, 30, 0, 0, time.UTC)
	const max = time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 12 ", 12 * time.Second},
		{"3600", time.Hour},
		{"3601", max},
		{"9223372036", max},                       // fits int64 seconds, overflows Duration
		{"9223372036854775807", max},              // math.MaxInt64
		{"9223372036854775808", max},              // one more: overflows int64
		{"99999999999999999999999999999999", max}, // far beyond
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), max},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now, max); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
