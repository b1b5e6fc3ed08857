package screenshotcenterwebhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

// inboxHandler is a handler with an inbox in a temporary directory that
// delivers to dest.
func inboxHandler(t *testing.T, name, dest string) *Handler {
	t.Helper()
	return &Handler{Name: name, Secrets: []string{testSecret}, Inbox: &InboxConfig{
		DeliverTo: dest, Store: filepath.Join(t.TempDir(), "inbox.db"), Backoff: []caddy.Duration{caddy.Duration(10 * time.Millisecond)}}}
}

// waitRequests waits until up has received n requests and returns them.
func waitRequests(t *testing.T, up *gatewaytest.Upstream, n int) []gatewaytest.Request {
	t.Helper()
	eventually.Succeeds(t, 30*time.Second, func() error {
		if got := up.Count(); got < n {
			return fmt.Errorf("%d requests delivered, want %d", got, n)
		}
		return nil
	})
	return up.Requests()
}

// queuedAnswer is the body of a 202.
type queuedAnswer struct {
	Outcome  string `json:"outcome"`
	Delivery string `json:"delivery"`
}

// With an inbox, a verified first-seen event is answered 202 with its
// entry once it is on disk and never reaches the next handler; the inbox
// delivers it with the exact body, the original signature and the
// gateway's headers; its retry is a duplicate, not queued again; it is
// counted as queued, and its attempt and delivery latency observed.
func TestInboxQueuesAndDelivers(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	h := inboxHandler(t, "inbox-test", up.URL+"/hook")
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	queued := metricRequests.WithLabelValues("inbox-test", ModeEnforce, outcomeQueued)
	delivered := metricInboxAttempts.WithLabelValues("inbox-test", string(inbox.OutcomeDelivered), "2xx")
	before := []float64{testutil.ToFloat64(queued), testutil.ToFloat64(delivered)}
	latencyBefore := histogramCount(t, metricInboxLatency.WithLabelValues("inbox-test"))

	body := `{"event":"screenshot.finished","screenshot_id":"sc_inbox_1"}`
	req := signed(testSecret, body)
	req.Header.Set("Authorization", "Bearer from-the-provider")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "hop")
	req.Header.Set("X-Scgate-Delivery-Id", "spoofed")
	rec := handle(t, h, req, nil)
	var ans queuedAnswer
	if err := json.Unmarshal(rec.answer, &ans); err != nil || rec.status != http.StatusAccepted || ans.Outcome != "queued" || ans.Delivery == "" {
		t.Fatalf("answer %d %s (%v), want 202 queued with a delivery", rec.status, rec.answer, err)
	}
	if rec.upstream != nil {
		t.Fatal("a queued event reached the next handler")
	}
	if got := rec.header.Get(HeaderOutcome); got != "queued" {
		t.Errorf("X-Scgate-Outcome = %q, want queued", got)
	}
	if rec.outcome != "queued" || rec.delivery != ans.Delivery {
		t.Errorf("placeholders outcome %q delivery_id %q, want queued %q", rec.outcome, rec.delivery, ans.Delivery)
	}
	if got := eventsOf("inbox-test"); len(got) != 1 || got[0].Outcome != "queued" || got[0].Status != http.StatusAccepted || got[0].DeliveryID != ans.Delivery {
		t.Errorf("event log %+v, want one queued entry, 202, linked to %s", got, ans.Delivery)
	}

	got := waitRequests(t, up, 1)[0]
	if string(got.Body) != body {
		t.Errorf("delivered body %q, want %q", got.Body, body)
	}
	if sig := got.Header.Values("X-Screenshotcenter-Signature"); len(sig) != 1 || sig[0] != verifier.Sign([]byte(testSecret), []byte(body)) {
		t.Errorf("signature %q, want the original one", sig)
	}
	for name, want := range map[string]string{
		"X-Scgate-Verified": "true", "X-Scgate-Delivery-Id": ans.Delivery, "X-Scgate-Delivery-Attempt": "1",
		"X-Scgate-Dedupe-Key": `"screenshot.finished" screenshot_id "sc_inbox_1"`, "Authorization": "Bearer from-the-provider",
	} {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if v, ok := got.Header["X-Hop"]; ok {
		t.Errorf("a header named in Connection was delivered: %q", v)
	}
	if got.RequestURI != "/hook" {
		t.Errorf("delivered to %s, want /hook", got.RequestURI)
	}

	retry := handle(t, h, signed(testSecret, body), nil)
	if retry.status != http.StatusOK || retry.header.Get(HeaderOutcome) != "duplicate" {
		t.Errorf("the retry: %d %s, want 200 duplicate", retry.status, retry.answer)
	}
	if testutil.ToFloat64(queued) != before[0]+1 {
		t.Errorf("queued counted %v times, want once", testutil.ToFloat64(queued)-before[0])
	}
	eventually.Succeeds(t, 30*time.Second, func() error {
		if n := testutil.ToFloat64(delivered) - before[1]; n != 1 {
			return fmt.Errorf("%v delivered attempts counted, want 1", n)
		}
		if n := histogramCount(t, metricInboxLatency.WithLabelValues("inbox-test")) - latencyBefore; n != 1 {
			return fmt.Errorf("%d delivery latencies observed, want 1", n)
		}
		return nil
	})
	if up.Count() != 1 {
		t.Errorf("%d deliveries, want 1", up.Count())
	}
}

// `scgate validate` (provision without start) creates no inbox file nor
// its directory.
func TestInboxValidateOpensNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	h := &Handler{Secrets: []string{testSecret}, Inbox: &InboxConfig{DeliverTo: "http://127.0.0.1:9/", Store: filepath.Join(dir, "inbox.db")}}
	if err := validate(t, h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("validate touched %s: %v", dir, err)
	}
}

// An event the inbox cannot store is answered 503 with Retry-After and
// reason inbox_unavailable, never 202, and its claim is released: the
// retry is tried again, not a duplicate or a copy in flight. So is an
// event reaching a handler whose config has not started.
func TestInboxUnavailableAnswers503(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	h := inboxHandler(t, "inbox-unavailable", up.URL)
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	h.inbox.get().Close() // every write fails from now on, as on a broken disk
	body := `{"event":"screenshot.finished","screenshot_id":"sc_inbox_closed"}`
	for i := range 2 {
		rec := handle(t, h, signed(testSecret, body), nil)
		if rec.status != http.StatusServiceUnavailable || rec.reason != "inbox_unavailable" || rec.header.Get("Retry-After") == "" ||
			!strings.Contains(string(rec.answer), `"reason":"inbox_unavailable"`) {
			t.Fatalf("attempt %d: %d %s (reason %q, Retry-After %q), want 503 inbox_unavailable with Retry-After",
				i, rec.status, rec.answer, rec.reason, rec.header.Get("Retry-After"))
		}
	}

	notStarted := inboxHandler(t, "inbox-not-started", up.URL)
	if err := validate(t, notStarted); err != nil {
		t.Fatal(err)
	}
	if rec := handle(t, notStarted, signed(testSecret, body), nil); rec.status != http.StatusServiceUnavailable || rec.reason != "inbox_unavailable" {
		t.Fatalf("a handler whose config did not start: %d %s", rec.status, rec.answer)
	}
}

// With reencode, the inbox delivers the re-encoding, signed again when it
// was queued, with X-Scgate-Reencoded; never the original signature.
func TestInboxReencoded(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	h := inboxHandler(t, "inbox-reencode", up.URL)
	h.Reencode = "js"
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := "{\n  \"event\": \"screenshot.finished\",\n  \"screenshot_id\": \"sc_inbox_re\",\n  \"size\": 1.0\n}"
	want := `{"event":"screenshot.finished","screenshot_id":"sc_inbox_re","size":1}`
	if rec := handle(t, h, signed(testSecret, body), nil); rec.status != http.StatusAccepted {
		t.Fatalf("answer %d %s", rec.status, rec.answer)
	}
	got := waitRequests(t, up, 1)[0]
	if string(got.Body) != want {
		t.Fatalf("delivered %q, want %q", got.Body, want)
	}
	if sig := got.Header.Values("X-Screenshotcenter-Signature"); len(sig) != 1 || sig[0] != verifier.Sign([]byte(testSecret), []byte(want)) {
		t.Errorf("signature %q, want the one of the re-encoding", sig)
	}
	if got.Header.Get(HeaderReencoded) != "js" {
		t.Errorf("X-Scgate-Reencoded = %q", got.Header.Get(HeaderReencoded))
	}
}

// A reload keeps the inbox file open and its entries, and applies the new
// config's settings: the old config's Cleanup does not close it, and the
// next event goes to the new deliver_to. Two handlers of one config cannot
// share a store.
func TestInboxAcrossReloads(t *testing.T) {
	oldUp, newUp := gatewaytest.NewUpstream(t), gatewaytest.NewUpstream(t)
	first := inboxHandler(t, "inbox-reload", oldUp.URL)
	if err := provision(t, first); err != nil {
		t.Fatal(err)
	}
	in := first.inbox.get()
	second := &Handler{Name: "inbox-reload", Secrets: []string{testSecret}, Inbox: &InboxConfig{DeliverTo: newUp.URL, Store: first.Inbox.Store}}
	if err := provision(t, second); err != nil {
		t.Fatal(err)
	}
	if err := first.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if second.inbox.get() != in {
		t.Fatal("the reload opened the inbox again instead of keeping it")
	}
	if rec := handle(t, second, signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"sc_reload"}`), nil); rec.status != http.StatusAccepted {
		t.Fatalf("after the reload: %d %s", rec.status, rec.answer)
	}
	waitRequests(t, newUp, 1)
	if oldUp.Count() != 0 {
		t.Errorf("the old deliver_to got %d requests", oldUp.Count())
	}

	a := inboxHandler(t, "inbox-a", newUp.URL)
	b := &Handler{Secrets: []string{testSecret}, Inbox: &InboxConfig{DeliverTo: newUp.URL, Store: a.Inbox.Store}}
	a.app = new(App)
	b.app = a.app
	if err := validate(t, a); err != nil {
		t.Fatal(err)
	}
	if err := validate(t, b); err == nil || !strings.Contains(err.Error(), "use the same inbox store") {
		t.Fatalf("two handlers on one inbox store: %v", err)
	}
}

// The dashboard finds an inbox in the registry from the config's
// provision on, readable once the config started, until the last config
// using it is cleaned up.
func TestInboxRegisteredForTheDashboard(t *testing.T) {
	h := inboxHandler(t, "inbox-registry", "http://127.0.0.1:9/")
	find := func() *registry.Store {
		for _, s := range registry.Stores() {
			if s.Kind == registry.KindInbox && s.Path == h.Inbox.Store {
				return &s
			}
		}
		return nil
	}
	if err := validate(t, h); err != nil {
		t.Fatal(err)
	}
	s := find()
	if s == nil || s.Open() != nil {
		t.Fatalf("registered %+v before the config started, want a store not open yet", s)
	}
	if err := h.app.Start(); err != nil {
		t.Fatal(err)
	}
	if s := find(); s == nil || s.Open() == nil {
		t.Fatal("the started inbox cannot be read through the registry")
	}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if s := find(); s != nil {
		t.Fatal("the inbox stays registered after its last config went")
	}
}
