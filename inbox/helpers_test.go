package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/verifier"
)

// waitTimeout bounds every wait for the engine's background work.
const waitTimeout = 30 * time.Second

var (
	testSecret      = []byte("inbox-test-secret-0123456789")
	testVerifier, _ = verifier.New([][]byte{testSecret})
)

// fast is a schedule for tests: many attempts, retries at once.
var fast = Settings{Attempts: 1000, Backoff: []time.Duration{time.Millisecond}}

// received is one request the destination saw.
type received struct {
	Body   []byte
	Header http.Header
}

// destination is a real HTTP server on loopback that records what it
// receives and answers with answer's status (204 when nil).
type destination struct {
	*httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, body []byte) int

	mu   sync.Mutex
	reqs []received
}

func newDestination(t testing.TB, answer func(http.ResponseWriter, *http.Request, []byte) int) *destination {
	ds := &destination{answer: answer}
	ds.Server = httptest.NewServer(http.HandlerFunc(ds.serve))
	t.Cleanup(ds.Close)
	return ds
}

// startDestinationAt starts a destination on addr (one that was down).
func startDestinationAt(t testing.TB, addr string, answer func(http.ResponseWriter, *http.Request, []byte) int) *destination {
	ds := &destination{answer: answer}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ds.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(ds.serve)}}
	ds.Start()
	t.Cleanup(ds.Close)
	return ds
}

func (ds *destination) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	code := http.StatusNoContent
	if ds.answer != nil {
		code = ds.answer(w, r, body)
	}
	if code >= 200 && code < 300 {
		ds.mu.Lock()
		ds.reqs = append(ds.reqs, received{Body: body, Header: r.Header.Clone()})
		ds.mu.Unlock()
	}
	w.WriteHeader(code)
}

// delivered returns the requests the destination answered with a 2xx.
func (ds *destination) delivered() []received {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	return append([]received(nil), ds.reqs...)
}

// waitDelivered waits until the destination has accepted n requests.
func (ds *destination) waitDelivered(t testing.TB, n int) []received {
	t.Helper()
	eventually.Succeeds(t, waitTimeout, func() error {
		if got := len(ds.delivered()); got < n {
			return fmt.Errorf("%d requests delivered, want %d", got, n)
		}
		return nil
	})
	return ds.delivered()
}

// downAddr returns a loopback address nothing listens on.
func downAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// openInbox opens an inbox in a temporary directory and closes it when
// the test ends; it does not run it.
func openInbox(t testing.TB, opts Options) *Inbox {
	t.Helper()
	in, err := Open(filepath.Join(t.TempDir(), "inbox.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// run runs in until the test ends.
func run(t testing.TB, in *Inbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// event returns the i-th test event: a signed body, the headers a
// provider sends (two hop-by-hop ones among them), and its keys.
func event(i int, orderKey string) Event {
	body := fmt.Appendf(nil, `{"event":"screenshot.finished","screenshot_id":"sc_%d","created_at":"2026-02-22T14:30:00Z"}`, i)
	h := http.Header{
		"Content-Type":                 {"application/json"},
		"User-Agent":                   {"provider/1"},
		"X-Screenshotcenter-Event":     {"screenshot.finished"},
		"X-Screenshotcenter-Signature": {verifier.Sign(testSecret, body)},
		"X-Many":                       {"one", fmt.Sprint(i)},
		"Connection":                   {"keep-alive, X-Hop"},
		"X-Hop":                        {"only for the gateway"},
		"Keep-Alive":                   {"timeout=5"},
		"Content-Length":               {fmt.Sprint(len(body))},
		"X-Scgate-Verified":            {"spoofed"},
	}
	return Event{Body: body, Header: h, DedupeKey: fmt.Sprintf("sc_%d", i), OrderKey: orderKey, Type: "screenshot.finished"}
}

// forwardedNames are the headers of event that reach the destination as
// they were sent; droppedNames never do.
var (
	forwardedNames = []string{"Content-Type", "User-Agent", "X-Screenshotcenter-Event", "X-Screenshotcenter-Signature", "X-Many"}
	droppedNames   = []string{"Connection", "X-Hop", "Keep-Alive"}
)

// checkForwarded reports how r differs from what event ev delivered as id
// should be.
func checkForwarded(r received, ev Event, id string) error {
	if string(r.Body) != string(ev.Body) {
		return fmt.Errorf("body %q, want %q", r.Body, ev.Body)
	}
	if _, err := testVerifier.Verify(r.Body, r.Header.Values("X-Screenshotcenter-Signature")); err != nil {
		return fmt.Errorf("the original signature does not verify: %v", err)
	}
	for _, name := range forwardedNames {
		if got, want := fmt.Sprint(r.Header[name]), fmt.Sprint(ev.Header[name]); got != want {
			return fmt.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	for _, name := range droppedNames {
		if v, ok := r.Header[name]; ok {
			return fmt.Errorf("hop-by-hop %s forwarded: %q", name, v)
		}
	}
	for name, want := range map[string]string{HeaderVerified: "true", HeaderDedupeKey: ev.DedupeKey, HeaderDeliveryID: id} {
		if got := r.Header.Values(name); len(got) != 1 || got[0] != want {
			return fmt.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	return nil
}

// waitEntry returns the next entry a hook sends to ch.
func waitEntry(t testing.TB, ch <-chan *Entry) *Entry {
	t.Helper()
	var e *Entry
	eventually.Succeeds(t, waitTimeout, func() error {
		select {
		case e = <-ch:
			return nil
		default:
			return errors.New("no entry settled")
		}
	})
	return e
}
