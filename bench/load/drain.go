package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The drain benchmark (-drain N): how fast an inbox empties after an
// outage. For each -drain-concurrency value, a fresh gateway in inbox mode
// queues N events while its application is down (nothing listens on the
// deliver_to port), then the application starts: the drain rate is N over
// the time from the application's first delivery to its N-th distinct one
// (the wait for the first retry after the application came back is left
// out). The application reads each body and answers 200 at once, so the
// figure is what the gateway can push, not what a real application takes.

// drainTimeout bounds one drain.
const drainTimeout = 10 * time.Minute

// drainResult is one drain.
type drainResult struct {
	concurrency int
	events      int
	queueRate   float64 // events/s acknowledged while the application was down
	elapsed     time.Duration
	rate        float64 // events/s delivered
	cpuPerEvent float64 // µs of gateway CPU per delivered event
	deliveries  int64   // requests the application received (at least once)
}

// app is the application of a drain: it records when each delivery id
// first arrived.
type app struct {
	srv *http.Server

	mu          sync.Mutex
	first, last time.Time
	seen        map[string]bool
	requests    int64
	want        int
	done        chan struct{}
}

func startApp(addr string, want int) (*app, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	a := &app{seen: make(map[string]bool, want), want: want, done: make(chan struct{})}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(l) }()
	return a, nil
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	now := time.Now()
	id := r.Header.Get("X-Scgate-Delivery-Id")
	a.mu.Lock()
	a.requests++
	if a.first.IsZero() {
		a.first = now
	}
	if id != "" && !a.seen[id] {
		a.seen[id] = true
		if len(a.seen) == a.want {
			a.last = now
			close(a.done)
		}
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.srv.Shutdown(ctx)
}

// parseConcurrencies reads -drain-concurrency: positive integers, comma
// separated.
func parseConcurrencies(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxConcurrency {
			return nil, fmt.Errorf("-drain-concurrency must list integers between 1 and %d, got %q", maxConcurrency, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// runDrains measures one drain per concurrency, in order, and returns the
// Markdown table.
func (b *bench) runDrains(ctx context.Context, concurrencies []int) (string, error) {
	var results []drainResult
	for _, c := range concurrencies {
		r, err := b.drainOne(ctx, c)
		if err != nil {
			return "", fmt.Errorf("drain with concurrency %d: %w", c, err)
		}
		logf("drain concurrency %-3d %d events in %s: %.0f events/s (queued at %.0f/s while down, %d deliveries, gateway CPU %.1f µs/event)",
			c, r.events, r.elapsed.Round(time.Millisecond), r.rate, r.queueRate, r.deliveries, r.cpuPerEvent)
		results = append(results, r)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Inbox drain after an outage\n\n- Command: `%s`\n", commandLine())
	fmt.Fprintf(&sb, "- %d events of %d bytes queued while the application was down, then the application started; rate = events / (last first delivery − first delivery)\n\n", b.opts.drain, bodySize)
	sb.WriteString("| concurrency | events | queued/s (application down) | drain time | delivered events/s | gateway CPU µs/event | deliveries |\n|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range results {
		fmt.Fprintf(&sb, "| %d | %d | %.0f | %s | %.0f | %.1f | %d |\n", r.concurrency, r.events, r.queueRate, r.elapsed.Round(time.Millisecond), r.rate, r.cpuPerEvent, r.deliveries)
	}
	return sb.String(), nil
}

func (b *bench) drainOne(ctx context.Context, concurrency int) (drainResult, error) {
	res := drainResult{concurrency: concurrency, events: b.opts.drain}
	ports, err := freePorts(1)
	if err != nil {
		return res, err
	}
	appAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]) // nothing listens there yet
	b.seq++
	name := fmt.Sprintf("drain-c%d", concurrency)
	store := filepath.Join(b.dir, fmt.Sprintf("inbox.%03d.db", b.seq))
	g, err := startSite(ctx, b.procs, b.bin, b.dir, b.seq, name, func(adminPort, port int) string {
		// Retries every 100ms at most, so that the application's start is
		// noticed at once.
		return caddyfile(adminPort, port, inboxSite(string(b.secret), "http://"+appAddr+"/", "store "+store, concurrency, "50ms 100ms"))
	})
	if err != nil {
		return res, err
	}
	defer b.procs.stop(g.proc)
	defer os.Remove(store)

	client := newClient(b.opts.concurrency)
	defer client.CloseIdleConnections()
	events := makeEvents(b.secret, fmt.Sprintf("%s_%s", b.runTag, name), b.opts.drain)
	ph := runLoad(ctx, client, g.url, &source{events: events}, b.opts.concurrency, drainTimeout, expectQueued)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if ph.errors > 0 || ph.requests != int64(b.opts.drain) {
		return res, fmt.Errorf("queueing: %d of %d requests, errors %v", ph.requests, b.opts.drain, ph.errKinds)
	}
	res.queueRate = float64(ph.requests) / ph.elapsed.Seconds()

	a, err := startApp(appAddr, b.opts.drain)
	if err != nil {
		return res, err
	}
	defer a.close()
	cpu0, err := cpuTicks(g.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	var profile <-chan error
	if slices.Contains(strings.Split(b.opts.cpuProfile, ","), name) {
		profile = g.cpuProfile(ctx, 3*time.Second, filepath.Join(b.opts.profileDir, "cpu-"+name+".pprof"))
	}
	select {
	case <-a.done:
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(drainTimeout):
		return res, errors.New("the inbox did not drain in time")
	}
	cpu1, err := cpuTicks(g.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	a.mu.Lock()
	res.elapsed, res.deliveries = a.last.Sub(a.first), a.requests
	a.mu.Unlock()
	res.rate = float64(res.events) / res.elapsed.Seconds()
	if profile != nil {
		if err := <-profile; err != nil {
			logf("cpu profile of %s failed: %v", name, err)
		}
	}
	res.cpuPerEvent = float64(cpu1-cpu0) * 1e6 / float64(clockTicks) / float64(res.events)
	return res, nil
}
