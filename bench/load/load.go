package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// bodySize is the size every generated webhook body is padded to.
const bodySize = 600

// requestTimeout bounds one request of the load generator.
const requestTimeout = 10 * time.Second

// signedEvent is a webhook body and its signature, prepared before a run so
// that the load generator does no HMAC work while it is timed.
type signedEvent struct {
	body []byte
	sig  string
}

// makeEvents returns n events with unique screenshot ids prefix-0, prefix-1...
func makeEvents(secret []byte, prefix string, n int) []signedEvent {
	evs := make([]signedEvent, n)
	for i := range evs {
		b := webhook.Sample("sc_"+prefix+"_"+strconv.Itoa(i), bodySize)
		evs[i] = signedEvent{body: b, sig: verifier.Sign(secret, b)}
	}
	return evs
}

// expectation checks one answer; a non-empty result is an error label.
type expectation func(resp *http.Response) string

// expectOK accepts a 200 that the gateway did not answer itself: the
// upstream's (or, for bare, any) 200.
func expectOK(resp *http.Response) string {
	if resp.StatusCode != http.StatusOK {
		return "status " + strconv.Itoa(resp.StatusCode)
	}
	if o := resp.Header.Get("X-Scgate-Outcome"); o != "" {
		return "unexpected outcome " + o
	}
	return ""
}

// expectOutcome accepts only the gateway's own answer status with
// X-Scgate-Outcome outcome.
func expectOutcome(status int, outcome string) expectation {
	return func(resp *http.Response) string {
		if resp.StatusCode != status {
			return "status " + strconv.Itoa(resp.StatusCode)
		}
		if o := resp.Header.Get("X-Scgate-Outcome"); o != outcome {
			return "outcome " + strconv.Quote(o) + " (want " + outcome + ")"
		}
		return ""
	}
}

var (
	// expectDuplicate accepts only the gateway's own 200 for a duplicate.
	expectDuplicate = expectOutcome(http.StatusOK, "duplicate")
	// expectQueued accepts only the inbox's 202 for a queued event.
	expectQueued = expectOutcome(http.StatusAccepted, "queued")
)

// newClient returns a keep-alive client for conc concurrent workers that
// never uses a proxy.
func newClient(conc int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conc * 2,
			MaxIdleConnsPerHost: conc * 2,
			MaxConnsPerHost:     conc * 2,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// source hands out events to the workers: each one once, or (repeat) the
// same ones over and over.
type source struct {
	events []signedEvent
	repeat bool
	next   atomic.Int64
}

// take returns the next event, or nil when a non-repeating source is empty.
func (s *source) take() *signedEvent {
	i := s.next.Add(1) - 1
	if s.repeat {
		return &s.events[i%int64(len(s.events))]
	}
	if i >= int64(len(s.events)) {
		return nil
	}
	return &s.events[i]
}

// phase is what one timed (or warm-up) stretch of load measured.
type phase struct {
	requests  int64
	errors    int64
	errKinds  map[string]int64
	latencies []time.Duration // sorted
	elapsed   time.Duration
	exhausted bool // the source ran out before the duration was up
}

// send posts ev to url and checks the answer; it returns the latency and an
// error label ("" if the answer was the expected one).
func send(ctx context.Context, client *http.Client, url string, ev *signedEvent, expect expectation) (time.Duration, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(ev.body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ScreenshotCenter-Event", "screenshot.finished")
	req.Header.Set("X-ScreenshotCenter-Signature", ev.sig)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(t0), errLabel(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return lat, errLabel(err)
	}
	return lat, expect(resp)
}

// errLabel shortens a transport error to a stable label.
func errLabel(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return "transport: " + s
}

// runLoad sends events from src to url with conc workers for dur (or until
// src is empty or ctx is done) and measures every completed request.
func runLoad(ctx context.Context, client *http.Client, url string, src *source, conc int, dur time.Duration, expect expectation) phase {
	type workerResult struct {
		lats     []time.Duration
		errors   int64
		errKinds map[string]int64
	}
	results := make([]workerResult, conc)
	var exhausted atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for w := range conc {
		wg.Go(func() {
			r := &results[w]
			r.lats = make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				ev := src.take()
				if ev == nil {
					exhausted.Store(true)
					return
				}
				lat, bad := send(ctx, client, url, ev, expect)
				if ctx.Err() != nil {
					return // interrupted: not a measurement
				}
				if bad != "" {
					r.errors++
					if r.errKinds == nil {
						r.errKinds = make(map[string]int64)
					}
					r.errKinds[bad]++
					if len(r.errKinds) > 20 { // bound the label set
						delete(r.errKinds, bad)
						r.errKinds["other"]++
					}
					continue
				}
				r.lats = append(r.lats, lat)
			}
		})
	}
	wg.Wait()
	p := phase{elapsed: time.Since(start), exhausted: exhausted.Load(), errKinds: make(map[string]int64)}
	n := 0
	for _, r := range results {
		n += len(r.lats)
	}
	p.latencies = make([]time.Duration, 0, n)
	for _, r := range results {
		p.latencies = append(p.latencies, r.lats...)
		p.errors += r.errors
		for k, v := range r.errKinds {
			p.errKinds[k] += v
		}
	}
	p.requests = int64(n) + p.errors
	sort.Slice(p.latencies, func(i, j int) bool { return p.latencies[i] < p.latencies[j] })
	return p
}

// percentile returns the nearest-rank q-th percentile (0 < q <= 100) of
// sorted, or 0 if it is empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// median returns the median of vs (the mean of the middle two for an even
// count), or NaN if vs is empty. vs is not modified.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// upstream is the in-process application behind every gateway: it reads the
// body and answers 200 "ok".
type upstream struct {
	srv  *http.Server
	addr string
	hits atomic.Int64
}

func startUpstream() (*upstream, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{addr: l.Addr().String()}
	u.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			u.hits.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok")
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = u.srv.Serve(l) }()
	return u, nil
}

func (u *upstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
}
