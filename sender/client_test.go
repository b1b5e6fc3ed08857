package sender

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
		kind       string
		outcome    Outcome
		check      func(t *testing.T, res *Result)
	}{
		{name: "200", kind: Kind2xx, handler: func(int, *http.Request, http.ResponseWriter) int { return 200 }, wantStatus: 200, outcome: OutcomeDelivered},
		{name: "204", kind: Kind2xx, handler: nil, wantStatus: 204, outcome: OutcomeDelivered},
		{name: "500 retries", kind: Kind5xx, handler: func(int, *http.Request, http.ResponseWriter) int { return 500 }, wantStatus: 500, wantErr: "HTTP 500", outcome: OutcomeRetry},
		{name: "redirect not followed", kind: Kind3xx, handler: func(_ int, r *http.Request, w http.ResponseWriter) int {
			http.Redirect(w, r, redirectTarget.URL, http.StatusTemporaryRedirect)
			return 0
		}, wantStatus: 307, wantErr: "redirects are not followed", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.Location != redirectTarget.URL {
				t.Errorf("Location = %q, want %q", res.Location, redirectTarget.URL)
			}
		}},
		{name: "301 not followed", kind: Kind3xx, handler: func(_ int, r *http.Request, w http.ResponseWriter) int {
			http.Redirect(w, r, redirectTarget.URL, http.StatusMovedPermanently)
			return 0
		}, wantStatus: 301, wantErr: "redirects are not followed", outcome: OutcomeRetry},
		{name: "410 gone", kind: Kind4xx, handler: func(int, *http.Request, http.ResponseWriter) int { return 410 }, wantStatus: 410, wantErr: "HTTP 410", outcome: OutcomeGone},
		{name: "429 retry-after seconds", kind: Kind4xx, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "7")
			return 429
		}, wantStatus: 429, wantErr: "HTTP 429", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", res.RetryAfter)
			}
		}},
		{name: "503 retry-after date", kind: Kind5xx, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", time.Now().Add(2*time.Minute).UTC().Format(http.TimeFormat))
			return 503
		}, wantStatus: 503, wantErr: "HTTP 503", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter < time.Minute || res.RetryAfter > 2*time.Minute {
				t.Errorf("RetryAfter = %v, want about 2m", res.RetryAfter)
			}
		}},
		{name: "retry-after bounded", kind: Kind5xx, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "99999999")
			return 503
		}, wantStatus: 503, wantErr: "HTTP 503", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != DefaultMaxRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, DefaultMaxRetryAfter)
			}
		}},
		{name: "retry-after beyond int64 bounded", kind: Kind4xx, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "99999999999999999999")
			return 429
		}, wantStatus: 429, wantErr: "HTTP 429", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != DefaultMaxRetryAfter {
				t.Errorf("RetryAfter = %v, want %v", res.RetryAfter, DefaultMaxRetryAfter)
			}
		}},
		{name: "retry-after ignored on 500", kind: Kind5xx, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
			w.Header().Set("Retry-After", "60")
			return 500
		}, wantStatus: 500, wantErr: "HTTP 500", outcome: OutcomeRetry, check: func(t *testing.T, res *Result) {
			if res.RetryAfter != 0 {
				t.Errorf("RetryAfter = %v, want 0", res.RetryAfter)
			}
		}},
		{name: "slow endpoint times out", kind: KindTimeout, opts: ClientOptions{Timeout: 200 * time.Millisecond}, handler: func(_ int, r *http.Request, _ http.ResponseWriter) int {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return 200
		}, wantErr: "timeout", outcome: OutcomeRetry},
		{name: "huge response capped", kind: Kind5xx, opts: ClientOptions{MaxResponseBytes: 1024}, handler: func(_ int, _ *http.Request, w http.ResponseWriter) int {
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
			if res.Status != tt.wantStatus || res.Kind != tt.kind {
				t.Errorf("status = %d, kind %q, want %d, %q (err %v)", res.Status, res.Kind, tt.wantStatus, tt.kind, res.Err)
			}
			if tt.wantErr == "" && res.Err != nil || tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", res.Err, tt.wantErr)
			}
			out, _ := instantSchedule.decide(res, 1, 5)
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

// Attempts that get no answer say why: the endpoint refused the
// connection, the SSRF guard refused the address, or the URL is unusable.
func TestClientFailureKinds(t *testing.T) {
	closed := newReceiver(t, nil)
	closedURL := closed.URL
	closed.Close() // nothing listens there any more
	tests := []struct {
		name string
		url  string
		opts ClientOptions
		kind string
	}{
		{"connection refused", closedURL, ClientOptions{}, KindRefused},
		{"SSRF guard", closedURL, ClientOptions{Allow: []string{"10.0.0.0/8"}}, KindBlocked},
		{"unresolvable name", "http://scgate-test.invalid/", ClientOptions{}, KindError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := testClient(t, tt.opts).Do(context.Background(), newTestDelivery(t, tt.url), 1)
			if res.Status != 0 || res.Kind != tt.kind {
				t.Fatalf("status %d, kind %q (%v); want no answer, %q", res.Status, res.Kind, res.Err, tt.kind)
			}
		})
	}
}
