package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/caddymodule/screenshotcenterwebhook"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// rawRequest writes a raw HTTP/1.1 request to the gateway and returns the
// open connection, for what net/http's client will not send.
func rawRequest(t *testing.T, raw string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(httpPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	return c
}

// readStatus reads the status of the answer on c.
func readStatus(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp
}

// Trailers arrive after the checks: they never reach the upstream (a
// client could name another event or set the gateway's own headers there),
// and the upstream gets the body with its Content-Length.
func TestRequestTrailersAreNotForwarded(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := event(t, "screenshot.finished")
	c := rawRequest(t, "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
		"Content-Type: application/json\r\n"+
		sigHeader+": "+sign(secret, body)+"\r\n"+
		"Transfer-Encoding: chunked\r\nTrailer: X-Scgate-Verified, X-ScreenshotCenter-Event\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n0\r\n", len(body), body)+
		"X-Scgate-Verified: spoof\r\nX-ScreenshotCenter-Event: spoofed.event\r\n\r\n")
	if resp := readStatus(t, c); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	got := up.Requests()[0]
	if len(got.Trailer) != 0 || got.ContentLength != int64(len(body)) || len(got.TransferEncoding) != 0 {
		t.Errorf("upstream got trailers %v, Content-Length %d, Transfer-Encoding %v; want no trailers and the length %d",
			got.Trailer, got.ContentLength, got.TransferEncoding, len(body))
	}
	if got.Header.Get("X-Scgate-Verified") != "true" || got.Header.Get("X-ScreenshotCenter-Event") == "spoofed.event" {
		t.Errorf("upstream headers %v", got.Header)
	}
}

// A Connection header naming the gateway's headers or the signature must
// not make reverse_proxy drop them: the headers the gateway promises the
// upstream always arrive.
func TestConnectionHeaderCannotDropPromisedHeaders(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := event(t, "screenshot.finished")
	expect(t, "delivery", post(t, body, "Connection", "X-Scgate-Verified, X-Scgate-Dedupe-Key, X-ScreenshotCenter-Signature, Content-Type"), 200, "")
	got := up.Requests()[0].Header
	for _, name := range []string{"X-Scgate-Verified", "X-Scgate-Dedupe-Key", sigHeader, "Content-Type"} {
		if got.Get(name) == "" {
			t.Errorf("%s did not reach the upstream (headers %v)", name, got)
		}
	}
}

// A signed id thousands of bytes long gives a bounded X-Scgate-Dedupe-Key
// (a hash form), which upstreams with small header limits accept.
func TestLongIdGivesABoundedKeyHeader(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := `{"event":"screenshot.finished","screenshot_id":"` + uid(t) + strings.Repeat("x", 5000) + `"}`
	expect(t, "delivery", post(t, body), 200, "")
	if key := up.Requests()[0].Header.Get("X-Scgate-Dedupe-Key"); len(key) > 200 || !strings.HasPrefix(key, "sha256:") {
		t.Errorf("dedupe key header of %d bytes (%.40q...), want the sha256: form", len(key), key)
	}
	expect(t, "retry", post(t, body), 200, "duplicate")
}

// A body that does not arrive within body_timeout is answered 408 and its
// buffer given back.
func TestSlowBodyIs408(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "body_timeout 500ms")
	c := rawRequest(t, "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
		sigHeader+": sha256="+strings.Repeat("0", 64)+"\r\nContent-Length: 100\r\n\r\n{\"event\":")
	if resp := readStatus(t, c); resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("a body that stalls: status %d, want 408", resp.StatusCode)
	}
	if up.Count() != 0 {
		t.Fatal("a stalled body reached the upstream")
	}
	expect(t, "a delivery after it", post(t, event(t, "screenshot.finished")), 200, "")
}

// Bodies being buffered share max_buffered: past it a new body is answered
// 503 with Retry-After, whatever its size, until the others are done. A
// body holds budget for the bytes it sent: here two clients (other hosts,
// each within its share) send all but the last byte of 32 KiB and stall.
func TestBufferBudgetIs503WhenUsedUp(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_body 32KiB\n\t\tmax_buffered 64KiB\n\t\tbody_timeout 30s")
	t.Cleanup(func() { loadGateway(t, up.Addr, "") }) // the budget is the process's
	var slow []net.Conn
	for _, host := range []string{"127.0.0.2", "127.0.0.3"} {
		slow = append(slow, rawFrom(t, host, "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			sigHeader+": sha256="+strings.Repeat("0", 64)+"\r\nContent-Length: 32768\r\n\r\n"+strings.Repeat(" ", 32767)))
	}
	// The slow bodies hold the whole budget once the handler has read them
	// (a signed event sent before may take a part of it, making one of them
	// fail instead: wait without sending any).
	eventually.Succeeds(t, 10*time.Second, func() error {
		if got := scrape(t, "scgate_webhook_buffered_bytes"); got != 64<<10 {
			return fmt.Errorf("the slow bodies hold %v bytes, want %d", got, 64<<10)
		}
		return nil
	})
	got := post(t, event(t, "screenshot.finished"))
	if got.Status != http.StatusServiceUnavailable || got.Reason() != "buffer_full" || got.Header.Get("Retry-After") == "" {
		t.Fatalf("with the budget held by two slow bodies: %d %q (Retry-After %q), want 503 buffer_full with Retry-After",
			got.Status, got.Body, got.Header.Get("Retry-After"))
	}
	for _, c := range slow {
		c.Close()
	}
	eventually.Succeeds(t, 10*time.Second, func() error {
		if got := post(t, event(t, "screenshot.finished")); got.Status != http.StatusOK {
			return fmt.Errorf("after the slow bodies went: %d", got.Status)
		}
		return nil
	})
}

// rawFrom writes a raw HTTP/1.1 request to the gateway from the loopback
// address local, as another host would, and returns the open connection.
func rawFrom(t *testing.T, local, raw string) net.Conn {
	t.Helper()
	c, err := dialFrom(context.Background(), local, "127.0.0.1:"+strconv.Itoa(httpPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// readAnswer reads the status and reason code of the answer on c.
func readAnswer(c net.Conn, within time.Duration) (result, error) {
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}, err
}

// One client's bodies hold at most its share of max_buffered (by default
// a 16th, at least max_body): a client that sends nearly whole bodies and
// stalls them cannot use the budget up for another client's signed event.
func TestOneClientHoldsOnlyItsShareOfTheBudget(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_body 64KiB\n\t\tmax_buffered 1MiB\n\t\tbody_timeout 30s")
	t.Cleanup(func() { loadGateway(t, up.Addr, "") }) // the budget is the process's
	// 20 bodies of 64 KiB, all but their last byte sent, from one host:
	// 1.25 MiB, more than the whole budget.
	const bodies = 20
	answers := make(chan result, bodies)
	raw := "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
		sigHeader + ": sha256=" + strings.Repeat("0", 64) + "\r\nContent-Length: 65536\r\n\r\n" + strings.Repeat(" ", 65535)
	for range bodies {
		c := rawFrom(t, "127.0.0.2", "")
		go func() {
			// A refused body's connection is closed: the rest of a write
			// may fail, the answer has come.
			io.WriteString(c, raw)
			got, err := readAnswer(c, 60*time.Second)
			if err != nil {
				got.Body = err.Error()
			}
			answers <- got
		}()
	}
	// One body fits the client's share of 64 KiB; every other one is
	// refused at once.
	for range bodies - 1 {
		select {
		case got := <-answers:
			if got.Status != http.StatusServiceUnavailable || got.Reason() != "client_buffer_full" || got.Header.Get("Retry-After") == "" {
				t.Fatalf("a body past the client's share: %d %q (Retry-After %q), want 503 client_buffer_full with Retry-After",
					got.Status, got.Body, got.Header.Get("Retry-After"))
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the bodies past the client's share were not refused: the client holds more than its share")
		}
	}
	// Meanwhile another client's signed event gets through.
	expect(t, "a signed event from another client", post(t, event(t, "screenshot.finished")), 200, "")
}

// A body that arrives slower than body_min_rate (16 KiB per second by
// default, after 2 seconds) is answered 408 body_too_slow early, not only
// at body_timeout (here a minute).
func TestBodySlowerThanTheMinimumRateIs408Early(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "body_timeout 60s")
	c := rawRequest(t, "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
		sigHeader+": sha256="+strings.Repeat("0", 64)+"\r\nContent-Length: 100\r\n\r\n{\"event\":")
	// A byte every 200ms: never idle, but far below the rate.
	go func() {
		for range 90 {
			time.Sleep(200 * time.Millisecond)
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	got, err := readAnswer(c, 30*time.Second)
	if err != nil {
		t.Fatalf("no answer within 30s to a body trickled at 5 bytes per second: %v", err)
	}
	if got.Status != http.StatusRequestTimeout || got.Reason() != "body_too_slow" {
		t.Fatalf("a trickled body: %d %q, want 408 body_too_slow", got.Status, got.Body)
	}
	if up.Count() != 0 {
		t.Fatal("a trickled body reached the upstream")
	}
}

// The bodies of one HTTP/2 connection read at once are bounded (16 by
// default): past it a stream declaring a body is answered 503
// too_many_streams at once instead of waiting for its body, and those within
// it that send nothing are cut off by body_min_rate.
func TestHTTP2StreamsReadPerConnectionAreBounded(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "body_timeout 60s")
	h, err := dialH2C(context.Background(), "", "127.0.0.1:"+strconv.Itoa(httpPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	const streams = 40
	for range streams {
		if _, err := h.open("content-type", "application/json", "content-length", "1000",
			strings.ToLower(sigHeader), "sha256="+strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.flush(); err != nil {
		t.Fatal(err)
	}
	// Every stream's answer.
	type answer struct{ status, body string }
	got := map[uint32]*answer{}
	var order []*answer
	h.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for len(order) < streams {
		ev, err := h.read()
		if err != nil {
			t.Fatalf("after %d of %d streams ended: %v", len(order), streams, err)
		}
		a := got[ev.stream]
		if a == nil {
			a = new(answer)
			got[ev.stream] = a
		}
		if ev.status != "" {
			a.status = ev.status
		}
		a.body += string(ev.data)
		if ev.ended && !slices.Contains(order, a) {
			order = append(order, a)
		}
	}
	bound := screenshotcenterwebhook.DefaultMaxStreamsPerConnection
	count := map[string]int{}
	for _, a := range order {
		var v struct{ Reason string }
		json.Unmarshal([]byte(a.body), &v)
		count[a.status+" "+v.Reason]++
	}
	if count["503 too_many_streams"] != streams-bound || count["408 body_too_slow"] != bound {
		t.Errorf("answers %v, want %d × 503 too_many_streams and %d × 408 body_too_slow", count, streams-bound, bound)
	}
}

// With reencode, every line of every signature header is replaced by the
// new signature: the checker reads every line, so a request whose first
// line is empty and whose second holds the valid signature passes, and the
// original signature must not travel next to bytes it does not sign.
func TestReencodeReplacesEverySignatureLine(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "reencode js")
	for _, c := range []struct {
		name  string
		lines map[string][]string // signature header lines; "SIG" is the valid signature
	}{
		{"empty line first", map[string][]string{sigHeader: {"", "SIG"}}},
		{"empty lines around", map[string][]string{sigHeader: {"", "SIG", ""}}},
		{"both headers, empty first", map[string][]string{sigHeader: {"", "SIG"}, "X-Signature": {"", "SIG"}}},
		{"other header empty", map[string][]string{sigHeader: {"SIG"}, "X-Signature": {""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Spaces that JSON.stringify drops: the forwarded bytes differ.
			body := `{ "event": "screenshot.finished", "screenshot_id": "` + uid(t) + `" }`
			orig := sign(secret, body)
			req := request(t, body)
			for name, lines := range c.lines {
				req.Header.Del(name)
				for _, l := range lines {
					if l == "SIG" {
						l = orig
					}
					req.Header.Add(name, l)
				}
			}
			got := forwardedOnce(t, up, req)
			if string(got.Body) == body {
				t.Fatal("the body was not re-encoded: the test proves nothing")
			}
			resigned := sign(secret, string(got.Body))
			for name := range c.lines {
				if v := got.Header.Values(name); len(v) != 1 || v[0] != resigned {
					t.Errorf("%s = %q, want only %q (the forwarded body's signature)", name, v, resigned)
				}
			}
			for name, v := range got.Header {
				for _, l := range v {
					if strings.Contains(l, orig[len("sha256="):]) {
						t.Errorf("the original signature reached the upstream in %s: %q", name, v)
					}
				}
			}
		})
	}
}

// The audit's sequence: one captured event sent 5 times, each socket
// closed after 0.4 s, against an upstream that takes 1.5 s, then sent once
// normally. A hang-up does not cancel the upstream call, so the upstream's
// answer settles the claim: the event is forwarded once, the copies sent
// while it works get 409 (or are closed first), and the copies after its
// 2xx are duplicates.
func TestHangUpsForwardAnEventOnce(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	up.Respond(func(int, gatewaytest.Request) int {
		time.Sleep(slowUpstream)
		return http.StatusOK
	})
	body := event(t, "screenshot.finished")
	captured := "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
		sigHeader + ": " + sign(secret, body) + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	for i := 0; i < 5; i++ {
		c := rawRequest(t, captured)
		// Whatever comes back within 0.4 s (a 409 for a copy in flight, a
		// duplicate's 200), the socket is closed then at the latest.
		c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		bufio.NewReader(c).ReadByte()
		c.Close()
	}
	expect(t, "the sixth, normal send", postSettled(t, body), 200, "duplicate")
	if n := up.Count(); n != 1 {
		t.Fatalf("the upstream received the event %d times, want once", n)
	}
}
