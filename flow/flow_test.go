package flow_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/scheme"
)

// sc is ScreenshotCenter's scheme: it reads the events and makes their
// default keys.
var sc = func() scheme.Scheme {
	s, err := scheme.New(scheme.ScreenshotCenter, scheme.Config{Secrets: [][]byte{[]byte("flow-test-secret-0123")}})
	if err != nil {
		panic(err)
	}
	return s
}()

func event(id string) gateway.Event {
	ev := gateway.Event{Body: []byte(`{"event":"screenshot.finished","screenshot_id":"` + id + `"}`)}
	signed, rf := sc.Read(scheme.Request{Body: ev.Body})
	if rf != nil {
		panic(rf)
	}
	ev.Signed = signed
	return ev
}

func newFlow(store dedupe.Store) *flow.Flow {
	return &flow.Flow{Store: store, Keyer: &gateway.Keyer{Scheme: sc}, InflightTimeout: 90 * time.Second, TTL: time.Hour, Logger: zap.NewNop()}
}

// brokenStore fails every call, as a store that cannot be reached.
type brokenStore struct{ dedupe.Store }

var errDown = errors.New("store down")

func (brokenStore) Claim(context.Context, string, time.Duration) (dedupe.State, dedupe.Token, error) {
	return 0, 0, errDown
}

// The flow's decisions, one table: what a claim answers, and what the
// deliverer's result settles.
func TestFlow(t *testing.T) {
	ctx := context.Background()
	mem := dedupe.NewMemoryStore(0)
	defer mem.Close()
	f := newFlow(mem)

	// A first copy is held; an accepted result commits it: a second copy
	// is a duplicate.
	c, o := f.Claim(ctx, event("a"))
	if o != nil || c.State != flow.Held {
		t.Fatalf("first claim: %+v %+v", c, o)
	}
	if _, o := f.Claim(ctx, event("a")); o == nil || o.Name != flow.InFlight || o.Status != http.StatusConflict || o.RetryAfter != "90" {
		t.Fatalf("copy in flight: %+v", o)
	}
	if got := f.Settle(c, flow.Result{Status: 204}); got.Name != flow.Forwarded {
		t.Fatalf("settle 204: %+v", got)
	}
	if _, o := f.Claim(ctx, event("a")); o == nil || o.Name != flow.Duplicate || o.Status != http.StatusOK {
		t.Fatalf("copy after commit: %+v", o)
	}

	// A failed result releases: the retry is held again.
	c, _ = f.Claim(ctx, event("b"))
	if got := f.Settle(c, flow.Result{Status: 500}); got.Name != flow.UpstreamFailed || got.Reason != "" {
		t.Fatalf("settle 500: %+v", got)
	}
	if c, o := f.Claim(ctx, event("b")); o != nil || c.State != flow.Held {
		t.Fatalf("retry after a release: %+v %+v", c, o)
	}
	c, _ = f.Claim(ctx, event("c"))
	if got := f.Settle(c, flow.Result{Status: 200, Err: errors.New("broken off")}); got.Name != flow.UpstreamFailed {
		t.Fatalf("settle with an error: %+v", got)
	}

	// A queued result (the inbox stored the event) commits too, and is
	// the outcome queued with its entry; a failed queue releases.
	c, _ = f.Claim(ctx, event("q"))
	if got := f.Settle(c, flow.Result{Status: 202, Queued: true, DeliveryID: "id-1"}); got.Name != flow.Queued || got.DeliveryID != "id-1" {
		t.Fatalf("settle a queued event: %+v", got)
	}
	if _, o := f.Claim(ctx, event("q")); o == nil || o.Name != flow.Duplicate {
		t.Fatalf("copy after a queued commit: %+v", o)
	}
	c, _ = f.Claim(ctx, event("r"))
	if got := f.Settle(c, flow.Result{Queued: true, Err: errors.New("disk full")}); got.Name != flow.UpstreamFailed {
		t.Fatalf("settle a failed queue: %+v", got)
	}
	if c, o := f.Claim(ctx, event("r")); o != nil || c.State != flow.Held {
		t.Fatalf("retry after a failed queue: %+v %+v", c, o)
	}

	// No store: nothing to claim or settle.
	off := newFlow(nil)
	if c, o := off.Claim(ctx, event("a")); o != nil || c.State != flow.Off {
		t.Fatalf("dedupe off: %+v %+v", c, o)
	}

	// A store that fails: unavailable (503, Retry-After), or delivered
	// without dedupe under on_error open.
	broken := newFlow(brokenStore{})
	var observed []string
	broken.Observe = func(op string, _ time.Duration, err error) {
		if err != nil {
			observed = append(observed, op)
		}
	}
	if _, o := broken.Claim(ctx, event("a")); o == nil || o.Name != flow.Unavailable || o.Reason != flow.ReasonStoreError ||
		o.Status != http.StatusServiceUnavailable || o.RetryAfter == "" || !errors.Is(o.Err, errDown) {
		t.Fatalf("store down, on_error closed: %+v", o)
	}
	broken.OnErrorOpen = true
	c, o = broken.Claim(ctx, event("a"))
	if o != nil || c.State != flow.FailOpen || !errors.Is(c.Err, errDown) {
		t.Fatalf("store down, on_error open: %+v %+v", c, o)
	}
	if got := broken.Settle(c, flow.Result{Status: 200}); got.Name != flow.Forwarded || !got.FailOpen {
		t.Fatalf("settle a fail-open delivery: %+v", got)
	}
	if len(observed) != 2 || observed[0] != "claim" {
		t.Fatalf("store errors observed: %v, want the two failed claims", observed)
	}

	// A full store of claims in flight refuses the event.
	full := newFlow(dedupe.NewMemoryStore(1))
	full.Claim(ctx, event("x"))
	if _, o := full.Claim(ctx, event("y")); o == nil || o.Reason != flow.ReasonStoreFull || o.Status != http.StatusServiceUnavailable {
		t.Fatalf("full store: %+v", o)
	}
}

// A failed check is rejected with its status and reason; one for lack of
// room is unavailable, with a Retry-After.
func TestRefused(t *testing.T) {
	if o := flow.Refused(gateway.ErrSigMismatch); o.Name != flow.Rejected || o.Status != 401 || o.Reason != "signature_mismatch" || o.RetryAfter != "" {
		t.Fatalf("signature mismatch: %+v", o)
	}
	if o := flow.Refused(gateway.ErrBufferFull); o.Name != flow.Unavailable || o.Status != 503 || o.RetryAfter == "" {
		t.Fatalf("buffer full: %+v", o)
	}
}
