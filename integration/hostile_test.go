package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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
// 503 with Retry-After, whatever its size, until the others are done.
func TestBufferBudgetIs503WhenUsedUp(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_body 32KiB\n\t\tmax_buffered 64KiB\n\t\tbody_timeout 30s")
	t.Cleanup(func() { loadGateway(t, up.Addr, "") }) // the budget is the process's
	var slow []net.Conn
	for i := 0; i < 2; i++ {
		slow = append(slow, rawRequest(t, "POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
			sigHeader+": sha256="+strings.Repeat("0", 64)+"\r\nContent-Length: 32768\r\n\r\n{\"event\":"))
	}
	// The slow bodies take their share once the handler starts reading
	// them; until then a new body may still fit.
	eventually.Succeeds(t, 10*time.Second, func() error {
		got := post(t, event(t, "screenshot.finished"))
		switch {
		case got.Status == http.StatusOK:
			return errors.New("the slow bodies do not hold the budget yet")
		case got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "":
			return eventually.Stop(fmt.Errorf("with the budget held by two slow bodies: %d (Retry-After %q), want 503 with Retry-After", got.Status, got.Header.Get("Retry-After")))
		}
		return nil
	})
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
