package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// The audit's two floods, run against the built binary with the default
// settings while another client sends signed events (issue 15, item 1):
//
//   - 1,030 HTTP/1.1 connections that send headers declaring a 1 MiB body
//     and no body byte, and 300 more declaring 4 KiB (the fillers), each
//     connecting again as soon as its request is answered or closed;
//   - 5 HTTP/2 cleartext connections with 250 such streams each, every
//     stream opened again as soon as it ends.
//
// Before the fix, every declared body took 64 KiB of max_buffered before a
// byte arrived: the floods held the whole budget and nearly every signed
// event got 503 buffer_full. Now a body holds budget only for bytes it has
// sent, a body that does not keep up body_min_rate is answered 408 early,
// and the streams of one HTTP/2 connection read at once are bounded, so at
// least 99% of the signed events must be forwarded, the budget held stays
// under max_buffered and the gateway's heap under max_buffered plus
// floodHeapSlack.
//
// Each flood comes from its own loopback address (127.0.0.2, 127.0.0.3),
// the signed events from 127.0.0.1, as from three hosts.
func TestFloodsWithoutTheSecretDoNotStarveSignedEvents(t *testing.T) {
	const (
		declaredConns = 1030
		fillerConns   = 300
		h2Conns       = 5
		h2Streams     = 250
		floodTime     = 20 * time.Second
		senders       = 4
	)
	needFiles(t, 2*(declaredConns+fillerConns+h2Conns)+512)

	up := gatewaytest.NewUpstream(t)
	const floodSecret = "flood-test-secret-0123456789"
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
	log {
		level ERROR
	}
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret {env.FLOOD_SECRET}
	}
	reverse_proxy ` + up.Addr + `
}
`,
		Env: []string{"FLOOD_SECRET=" + floodSecret},
	})
	addr := "127.0.0.1:" + strconv.Itoa(gw.HTTPPort)

	ctx, stop := context.WithTimeout(context.Background(), floodTime)
	defer stop()
	var floods sync.WaitGroup
	h1 := new(floodStats)
	for i := range declaredConns + fillerConns {
		declared := 1 << 20
		if i >= declaredConns {
			declared = 4 << 10
		}
		floods.Go(func() { h1Flood(ctx, addr, "127.0.0.2", declared, h1) })
	}
	h2 := new(floodStats)
	for range h2Conns {
		floods.Go(func() { h2cFlood(ctx, addr, "127.0.0.3", h2Streams, h2) })
	}
	peak := watchGateway(ctx, gw)

	// The floods need a moment to hold what they can; the signed events
	// start after it and end with them.
	time.Sleep(2 * time.Second)
	var sent, forwarded atomic.Int64
	failures := new(statusCounts)
	signedClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var signed sync.WaitGroup
	for w := range senders {
		signed.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				body := `{"event":"screenshot.finished","screenshot_id":"flood-` + strconv.Itoa(w) + `-` + strconv.Itoa(n) + `-` +
					strconv.FormatInt(time.Now().UnixNano(), 36) + `","status":"finished"}`
				req, _ := http.NewRequest(http.MethodPost, gw.URL+"/hook", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(sigHeader, sign(floodSecret, body))
				sent.Add(1)
				resp, err := signedClient.Do(req)
				if err != nil {
					failures.add("error: " + errorClass(err))
					continue
				}
				reason, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Scgate-Outcome") == "" {
					forwarded.Add(1)
				} else {
					failures.add(fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(reason)))
				}
				time.Sleep(20 * time.Millisecond) // a steady sender, not a flood of its own
			}
		})
	}
	signed.Wait()
	floods.Wait()
	signedClient.CloseIdleConnections()
	p := <-peak

	maxBuffered := int64(64 << 20) // the default
	share := float64(forwarded.Load()) / float64(max(sent.Load(), 1))
	t.Logf("signed events: %d sent, %d forwarded (%.2f%%), failures %v", sent.Load(), forwarded.Load(), 100*share, failures)
	t.Logf("HTTP/1.1 flood: %d requests answered %v, %d connections failed", h1.answered.Load(), &h1.statuses, h1.failed.Load())
	t.Logf("h2c flood: %d streams answered %v, %d connections failed", h2.answered.Load(), &h2.statuses, h2.failed.Load())
	t.Logf("gateway: peak budget used %d bytes (max_buffered %s), peak heap %s, peak RSS %s, %d samples every 100ms",
		p.budget, mib(maxBuffered), mib(int64(p.heap)), mib(p.rss), p.samples)

	if sent.Load() < 100 {
		t.Errorf("only %d signed events were sent in %v: too few to measure", sent.Load(), floodTime)
	}
	if share < 0.99 {
		t.Errorf("%.2f%% of the signed events were forwarded during the floods, want at least 99%%", 100*share)
	}
	if h1.answered.Load() < declaredConns/2 || h2.answered.Load() < h2Conns*h2Streams/2 {
		t.Errorf("the floods were answered only %d (HTTP/1.1) and %d (h2c) times: they did not run as planned", h1.answered.Load(), h2.answered.Load())
	}
	if up.Count() != int(forwarded.Load()) {
		t.Errorf("the upstream received %d requests, %d forwarded", up.Count(), forwarded.Load())
	}
	switch {
	case p.samples == 0:
		t.Errorf("the gateway's budget and heap could not be read: %v", p.err)
	case p.budget < 0:
		t.Errorf("the gateway's metrics have no scgate_webhook_buffered_bytes")
	case p.budget > maxBuffered:
		t.Errorf("peak budget used %s, over max_buffered %s", mib(p.budget), mib(maxBuffered))
	case int64(p.heap) > maxBuffered+floodHeapSlack:
		t.Errorf("peak heap %s, over max_buffered plus %s", mib(int64(p.heap)), mib(floodHeapSlack))
	}
}

// floodHeapSlack is what the gateway's heap (HeapAlloc, garbage not yet
// collected included) may hold during the floods beyond max_buffered:
// about 38 KiB for each of the 2,580 requests and streams the floods keep
// open. Each costs about 18 KiB live (net/http's buffers, the request and
// its context, HTTP/2 stream state, the 1 KiB first buffer of its body,
// which holds no budget until a byte arrives), and Go lets the heap grow
// to twice what is live before it collects (GOGC=100). Measured: a live
// heap of about 46 MiB and a peak HeapAlloc of about 100 MiB; before the
// fix the peak was 235 MiB.
const floodHeapSlack = 96 << 20

// needFiles makes sure this process may open n files, raising its soft
// limit (up to the hard limit) if needed; the gateway inherits it.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test opens about %d connections; the hard limit on open files is %d (raise it with ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising the open files limit to %d: %v", n, err)
	}
}

// floodStats counts what a flood's requests got.
type floodStats struct {
	answered atomic.Int64 // requests or streams that got an answer or were closed by the gateway
	failed   atomic.Int64 // connections that could not be made
	statuses statusCounts
}

// statusCounts counts answers by a short description.
type statusCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *statusCounts) add(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = make(map[string]int)
	}
	s.n[what]++
}

func (s *statusCounts) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.n)
}

// errorClass names a network error without its addresses.
func errorClass(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

// dialFrom connects to addr from the loopback address local (any, if "").
// The connection resets when closed instead of lingering in TIME_WAIT: the
// floods make thousands of connections, and a local port left in TIME_WAIT
// on 127.0.0.2 cannot be listened on by a later test's Caddy (which
// listens on every address), although gatewaytest.FreePort finds it free
// on 127.0.0.1. For the same reason ctx does not cut a connect short (Go
// would close that socket without the reset): connecting on loopback takes
// no time, and a connection made after ctx ended is closed at once.
func dialFrom(ctx context.Context, local, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.DialContext(context.WithoutCancel(ctx), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		c.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// h1Flood sends, until ctx ends, requests that declare a body of declared
// bytes and send none of it, one at a time on a new connection each,
// waiting for the answer (or the gateway closing the connection).
func h1Flood(ctx context.Context, addr, local string, declared int, s *floodStats) {
	head := "POST /hook HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		sigHeader + ": sha256=" + strings.Repeat("0", 64) + "\r\nContent-Length: " + strconv.Itoa(declared) + "\r\n\r\n"
	for ctx.Err() == nil {
		c, err := dialFrom(ctx, local, addr)
		if err != nil {
			if ctx.Err() == nil {
				s.failed.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		if _, err := c.Write([]byte(head)); err == nil {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case err == nil:
				resp.Body.Close()
				s.answered.Add(1)
				s.statuses.add(strconv.Itoa(resp.StatusCode))
			case ctx.Err() == nil:
				s.answered.Add(1)
				s.statuses.add("closed: " + errorClass(err))
			}
		}
		stop()
		c.Close()
	}
}

// h2cFlood opens, until ctx ends, HTTP/2 cleartext connections (prior
// knowledge) with streams streams each, every one declaring a 1 MiB body
// and sending none of it; a stream that ends is opened again at once, and
// a connection that ends is made again.
func h2cFlood(ctx context.Context, addr, local string, streams int, s *floodStats) {
	for ctx.Err() == nil {
		if err := h2cFloodConn(ctx, addr, local, streams, s); err != nil && ctx.Err() == nil {
			s.failed.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func h2cFloodConn(ctx context.Context, addr, local string, streams int, s *floodStats) error {
	h, err := dialH2C(ctx, local, addr)
	if err != nil {
		return err
	}
	defer h.Close()
	stop := context.AfterFunc(ctx, func() { h.Close() })
	defer stop()
	live := make(map[uint32]bool, streams) // streams opened and not ended
	open := func() error {
		id, err := h.open("content-type", "application/json", "content-length", "1048576",
			strings.ToLower(sigHeader), "sha256="+strings.Repeat("0", 64))
		live[id] = true
		return err
	}
	for range streams {
		if err := open(); err != nil {
			return err
		}
	}
	if err := h.flush(); err != nil {
		return err
	}
	for {
		ev, err := h.read()
		if err != nil {
			if ctx.Err() == nil {
				s.statuses.add("connection closed: " + errorClass(err))
			}
			return nil
		}
		switch {
		case ev.status != "":
			s.statuses.add(ev.status)
		case ev.reset:
			s.statuses.add("reset")
		}
		// A stream ends at its answer's END_STREAM or at a reset, whichever
		// comes first (the gateway resets a stream it answered without
		// reading the body).
		if !ev.ended || !live[ev.stream] {
			continue
		}
		delete(live, ev.stream)
		s.answered.Add(1)
		if h.next < 1<<30 {
			if err := open(); err != nil {
				return nil
			}
			if err := h.flush(); err != nil {
				return nil
			}
		}
	}
}

// gatewayPeak is the most the gateway held while it was watched.
type gatewayPeak struct {
	budget  int64  // scgate_webhook_buffered_bytes; -1 if never read
	heap    uint64 // runtime.MemStats.HeapAlloc
	rss     int64  // VmRSS
	samples int
	err     error // the last error reading them
}

// watchGateway samples the gateway's buffered bytes (its metrics), heap
// (expvar's memstats) and resident memory every 100ms until ctx ends, and
// then sends the peaks.
func watchGateway(ctx context.Context, gw *gatewaytest.Gateway) <-chan gatewayPeak {
	out := make(chan gatewayPeak, 1)
	go func() {
		p := gatewayPeak{budget: -1}
		c := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- p
				return
			case <-tick.C:
			}
			budget, heap, err := sampleGateway(c, gw)
			if err != nil {
				p.err = err
				continue
			}
			p.samples++
			p.budget = max(p.budget, budget)
			p.heap = max(p.heap, heap)
			p.rss = max(p.rss, rss(gw.PID()))
		}
	}()
	return out
}

// sampleGateway returns the gateway's buffered bytes (-1 if its metrics do
// not have them) and heap.
func sampleGateway(c *http.Client, gw *gatewaytest.Gateway) (budget int64, heap uint64, err error) {
	resp, err := c.Get(gw.AdminURL + "/debug/vars")
	if err != nil {
		return 0, 0, err
	}
	var vars struct {
		Memstats struct{ HeapAlloc uint64 } `json:"memstats"`
	}
	err = json.NewDecoder(resp.Body).Decode(&vars)
	resp.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	resp, err = c.Get(gw.AdminURL + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	budget = -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "scgate_webhook_buffered_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, 0, err
			}
			budget = int64(f)
		}
	}
	return budget, vars.Memstats.HeapAlloc, sc.Err()
}

// rss returns the resident memory of process pid, 0 if unknown.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
