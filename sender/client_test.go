package sender

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/webhook"
)

func newTestDelivery(t testing.TB, url string) *Delivery {
	t.Helper()
	d, err := NewDelivery(url, webhook.ScreenshotFinished, []byte(sampleBody), testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestClientAttempt(t *testing.T) {
	redirectTarget := newReceiver(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name       string
		handler    func(n int, r *http.Request, w http.ResponseWriter) int
		opts       ClientOptions
		wantStatus int
		wantErr    string
		outcome    Outcome
		check      func(t *testing.T, res *Result)
	}{
		{name: "200", handler: func(int, *http.Request, http.ResponseWriter) int { return 200 }, wantStatus: 200, outcome: OutcomeDelivered},
		{name: "204", handler: nil, wantStatus: 204, outcome: OutcomeDelivered},
		{name: "500 retries", handler: func(int, *http.Request, http.ResponseWriter) int { return 500 }, wantStatus: 500, wantErr: "HTTP 500", outcome: OutcomeRetry},
		{name: "redirect not followed", handler: func(_ int, r *http.Request, w http.ResponseWriter) int {
			http.Redirect(w, r, redirectTarget.URL, http.StatusTemporaryRedirect)
			return 0
		}, wantStatus: 307, wantErr: "redirects are not followed", outcome: OutcomeRetry},
		{name: "301 not followed", handler: func(_ int, r *http.Request, w http.ResponseWriter) int {
			http.Redirect(w, r, redirectTarget.URL, http.StatusMovedPermanently)
			return 0
		}, wantStatus: 301, wantErr: "redirects are not followed", outcome: OutcomeRetry},
		{name: "410 gone", handler: func(int, *http.Request, http.ResponseWriter) int { return 410 }, wantStatus: 410, wantErr: "HTTP 410", outcome: OutcomeGone},
		{name: "429 retry-after seconds", handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "7")
			return 429
		}, wantStatus: 429, wantErr: "HTTP 429", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", res.RetryAfter)
			}
		}},
		{name: "503 retry-after date", handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			return 503
		}, wantStatus: 503, wantErr: "HTTP 503", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter < time.Minute || res.RetryAfter > 2*time.Minute {
				t.Errorf("RetryAfter = %v, want about 2m", res.RetryAfter)
			}
		}},
		{name: "retry-after bounded", handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "99999999")
			return 503
		}, wantStatus: 503, wantErr: "HTTP 503", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != DefaultMaxRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, DefaultMaxRetryAfter)
			}
		}},
		{name: "retry-after ignored on 500", handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "60")
			return 500
		}, wantStatus: 500, wantErr: "HTTP 500", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want 0", res.RetryAfter)
			}
		}},
		{name: "slow endpoint times out", opts: ClientOptions{Timeout: 200 * time.Millisecond}, handler: func(_ int, r *http.Request, _ http.ResponseWriter) int {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return 200
		}, wantErr: "timeout", outcome: OutcomeRetry},
		{name: "huge response capped", opts: ClientOptions{MaxResponseBytes: 1024}, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.WriteHeader(500)
			chunk := []byte(strings.Repeat("x", 64<<10))
			for i := 0; i < 1024; i++ { // 64 MiB, far more than is read
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			return 0
		}, wantStatus: 500, wantErr: "HTTP 500", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if len(res.Response) != 1024 || !res.Truncated {
				t.Errorf("response: %d bytes, truncated %v; want 1024, true", len(res.Response), res.Truncated)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.handler)
			c := testClient(t, tt.opts)
			d := newTestDelivery(t, rc.URL+"/hook")
			res := c.Do(context.Background(), d, 1)
			if res.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (err %v)", res.Status, tt.wantStatus, res.Err)
			}
			if tt.wantErr == "" && res.Err != nil || tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", res.Err, tt.wantErr)
			}
			out, _ := Schedule{Delays: []time.Duration{time.Millisecond}}.decide(res, 1, 5)
			if out != tt.outcome {
				t.Errorf("outcome = %s, want %s", out, tt.outcome)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
			if reqs := rc.requests(); len(reqs) == 1 {
				checkSigned(t, reqs[0], []byte(sampleBody), d.ID)
				if reqs[0].Attempt != 1 {
					t.Errorf("attempt header = %d, want 1", reqs[0].Attempt)
				}
			} else {
				t.Errorf("endpoint saw %d requests, want 1", len(reqs))
			}
		})
	}
	if n := len(redirectTarget.requests()); n != 0 {
		t.Errorf("redirect target saw %d requests, want 0", n)
	}
}

func TestDecideRetryAfterWins(t *testing.T) {
	s := Schedule{Delays: []time.Duration{time.Millisecond}, NoJitter: true}
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
	if got := ScaledDelays(100 * time.Millisecond); got[1] != 600*time.Millisecond || got[3] != 18*time.Second {
		t.Errorf("ScaledDelays(100ms) = %v", got)
	}
}

func TestNewDeliveryRejects(t *testing.T) {
	now := time.Now()
	cases := []struct {
		url, ev, body, secret string
		want                  error
	}{
		{"ftp://x/", "e", "{}", "s", ErrInvalidURL},
		{"/relative", "e", "{}", "s", ErrInvalidURL},
		{"http://", "e", "{}", "s", ErrInvalidURL},
		{"http://x/", "", "{}", "s", ErrInvalidEvent},
		{"http://x/", "a\nb", "{}", "s", ErrInvalidEvent},
		{"http://x/", "e", "", "s", ErrEmptyBody},
		{"http://x/", "e", "{}", "", ErrEmptySecret},
	}
	for _, c := range cases {
		if _, err := NewDelivery(c.url, c.ev, []byte(c.body), []byte(c.secret), now); !errors.Is(err, c.want) {
			t.Errorf("NewDelivery(%q, %q, %q, %q) = %v, want %v", c.url, c.ev, c.body, c.secret, err, c.want)
		}
	}
}

func TestDeliverForeground(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		attempts int
		want     State
		wantReqs int
	}{
		{"success", func(int) int { return 200 }, 5, StateDelivered, 1},
		{"fail twice then success", func(n int) int {
			if n <= 2 {
				return 500
			}
			return 202
		}, 5, StateDelivered, 3},
		{"always failing", func(int) int { return 502 }, 4, StateFailed, 4},
		{"gone stops", func(int) int { return 410 }, 5, StateGone, 1},
		{"redirect is a failure", func(int) int { return 302 }, 3, StateFailed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, _ *http.Request, _ http.ResponseWriter) int { return tt.status(n) })
			c := testClient(t, ClientOptions{})
			d := newTestDelivery(t, rc.URL)
			d.MaxAttempts = tt.attempts
			var log []Attempt
			st, err := Deliver(context.Background(), c, Schedule{Delays: []time.Duration{time.Millisecond}}, d,
				func(_ *Delivery, a Attempt) { log = append(log, a) })
			if err != nil || st != tt.want {
				t.Fatalf("Deliver = %s, %v; want %s", st, err, tt.want)
			}
			reqs := rc.requests()
			if len(reqs) != tt.wantReqs || len(log) != tt.wantReqs {
				t.Fatalf("requests %d, log %d; want %d", len(reqs), len(log), tt.wantReqs)
			}
			for i, r := range reqs {
				checkSigned(t, r, []byte(sampleBody), d.ID)
				if r.Attempt != i+1 || log[i].N != i+1 {
					t.Errorf("attempt %d: header %d, log %d", i+1, r.Attempt, log[i].N)
				}
			}
		})
	}
}
