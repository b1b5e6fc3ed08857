package gatewaytest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is one request an Upstream received, as it arrived.
type Request struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	// Body holds the exact body bytes.
	Body []byte
	// ContentLength and TransferEncoding are as Go's server parsed them.
	ContentLength    int64
	TransferEncoding []string
	// Trailer holds the trailers that came after a chunked body.
	Trailer http.Header
	// Done is closed when the client gave the request up (it closed the
	// connection or reset the stream), or once it was answered.
	Done <-chan struct{}
}

// Responder decides the status of the n-th request (counting from 0) an
// Upstream receives. It runs on the server's goroutine for that request, so
// it may block (for example until the test closes a channel) to keep a
// request in flight.
type Responder func(n int, req Request) int

// Upstream is a real HTTP server on 127.0.0.1 that records every request
// and answers with a scriptable status (200 by default) and the body "ok"
// (or the one given to SetBody).
type Upstream struct {
	// URL is "http://127.0.0.1:<port>"; Addr is "127.0.0.1:<port>", ready
	// for a reverse_proxy directive.
	URL, Addr string

	srv *httptest.Server

	mu        sync.Mutex
	reqs      []Request
	respond   Responder
	body      []byte // nil: "ok"
	onRequest []chan Request
}

// NewUpstream starts an Upstream on a free loopback port; it is closed when
// the test ends.
func NewUpstream(tb testing.TB) *Upstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("gatewaytest: upstream listen: %v", err)
	}
	return newUpstream(tb, ln)
}

// NewUpstreamAt starts an Upstream on addr, e.g. one chosen with FreePort
// before the upstream existed, to test a gateway whose upstream comes up
// late. It fails tb if addr cannot be bound.
func NewUpstreamAt(tb testing.TB, addr string) *Upstream {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("gatewaytest: upstream listen on %s: %v", addr, err)
	}
	return newUpstream(tb, ln)
}

func newUpstream(tb testing.TB, ln net.Listener) *Upstream {
	u := &Upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(u.serve))
	u.srv.Listener.Close()
	u.srv.Listener = ln
	u.srv.Start()
	u.URL = u.srv.URL
	u.Addr = ln.Addr().String()
	tb.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := Request{
		Method:           r.Method,
		RequestURI:       r.RequestURI,
		Host:             r.Host,
		Header:           r.Header.Clone(),
		Body:             body,
		ContentLength:    r.ContentLength,
		TransferEncoding: r.TransferEncoding,
		Trailer:          r.Trailer.Clone(),
		Done:             r.Context().Done(),
	}
	u.mu.Lock()
	n := len(u.reqs)
	u.reqs = append(u.reqs, req)
	respond, answer := u.respond, u.body
	subs := append([]chan Request(nil), u.onRequest...)
	u.mu.Unlock()
	for _, c := range subs {
		select {
		case c <- req:
		default:
		}
	}
	status := http.StatusOK
	if respond != nil {
		status = respond(n, req)
	}
	if answer == nil {
		answer = []byte("ok")
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	w.Write(answer)
}

// SetBody makes every answer from now on carry body instead of "ok", e.g.
// one too large for the socket buffers, so that a gateway whose client hung
// up fails to pass it on.
func (u *Upstream) SetBody(body []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.body = body
}

// Respond sets the Responder; nil restores "always 200".
func (u *Upstream) Respond(f Responder) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.respond = f
}

// FailFirst makes the first n requests (counted from the upstream's start,
// including those already received) answer status, and the rest 200.
func (u *Upstream) FailFirst(n, status int) {
	u.Respond(func(i int, _ Request) int {
		if i < n {
			return status
		}
		return http.StatusOK
	})
}

// Notify returns a channel that receives a copy of every request from now
// on, as soon as it has been read (before the Responder runs). The channel
// has room for buf requests; when it is full, requests are not sent to it.
func (u *Upstream) Notify(buf int) <-chan Request {
	c := make(chan Request, buf)
	u.mu.Lock()
	u.onRequest = append(u.onRequest, c)
	u.mu.Unlock()
	return c
}

// Requests returns a copy of every request received so far, in order.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// Count returns how many requests were received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Reset forgets the recorded requests (the Responder's n starts again at 0).
func (u *Upstream) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reqs = nil
}

// Close shuts the server down; it is safe to call more than once.
func (u *Upstream) Close() {
	u.mu.Lock()
	srv := u.srv
	u.srv = nil
	u.mu.Unlock()
	if srv != nil {
		srv.CloseClientConnections()
		srv.Close()
	}
}
