package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/testclock"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// waitTimeout bounds every wait for something the sender does in the
// background.
const waitTimeout = 30 * time.Second

// testSecretText is the tests' secret (16+ bytes, as every secret must be).
const testSecretText = "test-secret-0123456789"

var testSecret = []byte(testSecretText)

const sampleBody = `{"event":"screenshot.finished","screenshot_id":"sc_1","created_at":"2026-02-22T14:30:00Z",  "metadata":{}}`

// instantSchedule retries at once: tests of outcomes never wait for a
// backoff. Tests of the backoff itself move a testClock.
var instantSchedule = Schedule{Backoff: []time.Duration{0}, NoJitter: true}

// testClock is an injectable Options.Now that only moves when told to.
type testClock = testclock.Clock

func newTestClock() *testClock { return testclock.At(time.Now()) }

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

// statusByPath answers 204 on /ok, 410 on /gone and 500 elsewhere.
func statusByPath(_ int, r *http.Request, _ http.ResponseWriter) int {
	switch r.URL.Path {
	case "/ok":
		return http.StatusNoContent
	case "/gone":
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

func testClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	if opts.Allow == nil && !opts.AllowPrivate {
		opts.Allow = []string{"127.0.0.0/8"}
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

func newTestDelivery(t testing.TB, url string) *Delivery {
	t.Helper()
	d, err := NewDelivery(url, webhook.ScreenshotFinished, []byte(sampleBody), testSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openTestOutbox(t testing.TB, opts OutboxOptions) (*Outbox, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob, path
}

// mustEnqueue stores deliveries in ob, failing the test if it cannot.
func mustEnqueue(t testing.TB, ob *Outbox, ds ...*Delivery) {
	t.Helper()
	if err := ob.Enqueue(ds...); err != nil {
		t.Fatal(err)
	}
}

// startSender runs s until the test ends.
func startSender(t testing.TB, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
}

// runSender runs a sender on ob until the test ends (with a loopback
// client and instantSchedule unless opts say otherwise); final is
// signalled once per attempt that ended a delivery.
func runSender(t testing.TB, ob *Outbox, opts Options) (*Sender, <-chan *Delivery) {
	t.Helper()
	final := make(chan *Delivery, 1024)
	opts.OnAttempt = func(d *Delivery, a Attempt) {
		if a.Outcome != OutcomeRetry && a.Outcome != OutcomeInterrupted {
			c := *d
			final <- &c
		}
	}
	if opts.Client == nil {
		opts.Client = testClient(t, ClientOptions{})
	}
	if opts.Schedule.Backoff == nil {
		opts.Schedule = instantSchedule
	}
	s, err := New(ob, opts)
	if err != nil {
		t.Fatal(err)
	}
	startSender(t, s)
	return s, final
}

// waitFinal returns the next delivery that runSender reports final.
func waitFinal(t testing.TB, final <-chan *Delivery) *Delivery {
	t.Helper()
	var d *Delivery
	eventually.Succeeds(t, waitTimeout, func() error {
		select {
		case d = <-final:
			return nil
		default:
			return errors.New("no delivery finished")
		}
	})
	return d
}

// waitNotPending polls the outbox until delivery id is no longer pending.
func waitNotPending(t testing.TB, ob *Outbox, id string) *Delivery {
	t.Helper()
	return waitDelivery(t, ob, id, func(d *Delivery) bool { return d.State != StatePending })
}

// waitDelivery polls the outbox until delivery id satisfies ok.
func waitDelivery(t testing.TB, ob *Outbox, id string, ok func(*Delivery) bool) *Delivery {
	t.Helper()
	var d *Delivery
	eventually.Succeeds(t, waitTimeout, func() error {
		var err error
		if d, _, err = ob.Get(id); err != nil {
			return err
		}
		if !ok(d) {
			return fmt.Errorf("delivery %s: %s after %d attempts (%s)", id, d.State, d.Attempts, d.LastError)
		}
		return nil
	})
	return d
}

// finishAll runs a sender on ob until every delivery in ds has reached a
// final state, then stops it, and returns the final copies oldest first.
func finishAll(t *testing.T, ob *Outbox, ds []*Delivery) []*Delivery {
	t.Helper()
	final := make(chan *Delivery, len(ds))
	s, err := New(ob, Options{Client: testClient(t, ClientOptions{}), Schedule: instantSchedule,
		OnAttempt: func(d *Delivery, a Attempt) {
			if a.Outcome != OutcomeRetry && a.Outcome != OutcomeInterrupted {
				c := *d
				final <- &c
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	if err := s.Enqueue(ds...); err != nil {
		t.Fatal(err)
	}
	var out []*Delivery
	for range ds {
		out = append(out, waitFinal(t, final))
	}
	cancel()
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.Before(out[j].UpdatedAt) })
	return out
}

// keysFor counts the records of every bucket that mention id.
func keysFor(t *testing.T, ob *Outbox, id string) int {
	t.Helper()
	n := 0
	err := ob.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				if bytes.Contains(k, []byte(id)) {
					n++
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rewriteRecord closes ob, sets key in bucket to v behind its back (a
// corrupt record), and reopens the outbox until the test ends.
func rewriteRecord(t *testing.T, ob *Outbox, path string, bucket []byte, key string, v []byte) *Outbox {
	t.Helper()
	ob.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(key), v) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ob, err = OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}
