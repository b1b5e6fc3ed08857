package sender

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

var testSecret = []byte("test-secret")

// received is one request seen by a receiver.
type received struct {
	Body      []byte
	Event     string
	Signature string
	ID        string
	Attempt   int
	UA        string
	CT        string
}

// receiver is a real HTTP server on loopback that answers with statuses
// from a function of the request count (from 1, per delivery id).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	perID  map[string]int
	status func(n int, r *http.Request, w http.ResponseWriter) int
}

func newReceiver(t testing.TB, status func(n int, r *http.Request, w http.ResponseWriter) int) *receiver {
	rc := &receiver{perID: map[string]int{}, status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		att, _ := strconv.Atoi(r.Header.Get(HeaderAttempt))
		rec := received{Body: body, Event: r.Header.Get(webhook.HeaderEvent), Signature: r.Header.Get(webhook.HeaderSignature),
			ID: r.Header.Get(HeaderDeliveryID), Attempt: att, UA: r.Header.Get("User-Agent"), CT: r.Header.Get("Content-Type")}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, rec)
		rc.perID[rec.ID]++
		n := rc.perID[rec.ID]
		rc.mu.Unlock()
		code := http.StatusNoContent
		if rc.status != nil {
			code = rc.status(n, r, w)
		}
		if code != 0 {
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *receiver) distinct() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.perID))
	for k, v := range rc.perID {
		out[k] = v
	}
	return out
}

func testClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	if opts.Allow == nil && !opts.AllowAll {
		opts.Allow = []string{"127.0.0.0/8"}
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// checkSigned verifies that r is a correctly signed copy of body.
func checkSigned(t *testing.T, r received, body []byte, id string) {
	t.Helper()
	if string(r.Body) != string(body) {
		t.Errorf("body = %q, want %q", r.Body, body)
	}
	if want := verifier.Sign(testSecret, body); r.Signature != want {
		t.Errorf("signature = %q, want %q", r.Signature, want)
	}
	if r.ID != id {
		t.Errorf("delivery id = %q, want %q", r.ID, id)
	}
	if r.CT != "application/json" || r.UA != DefaultUserAgent || r.Event != webhook.ScreenshotFinished {
		t.Errorf("headers: content-type %q, user-agent %q, event %q", r.CT, r.UA, r.Event)
	}
}

const sampleBody = `{"event":"screenshot.finished","screenshot_id":"sc_1","created_at":"2026-02-22T14:30:00Z",  "metadata":{}}`

// mustEnqueue stores deliveries in ob, failing the test if it cannot.
func mustEnqueue(t testing.TB, ob *Outbox, ds ...*Delivery) {
	t.Helper()
	if err := ob.Enqueue(ds...); err != nil {
		t.Fatal(err)
	}
}
