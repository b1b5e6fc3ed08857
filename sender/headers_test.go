package sender

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawHeaders has a value that is not UTF-8 (JSON would change it), a
// repeated header and a signature.
func rawHeaders() http.Header {
	return http.Header{
		"X-Latin":                      {"caf\xe9"},
		"X-Many":                       {"one", "two"},
		"X-Screenshotcenter-Signature": {"sha256=00ff"},
	}
}

// Headers stored with a delivery come back byte for byte from Get, List
// and a lease, and a purge removes them with the rest.
func TestHeadersStoredByteForByte(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	d := orderedDelivery(t, "http://127.0.0.1:9/", "k")
	d.Headers = rawHeaders()
	mustEnqueue(t, ob, d)
	got, _, err := ob.Get(d.ID)
	if err != nil || !reflect.DeepEqual(got.Headers, rawHeaders()) {
		t.Fatalf("Get: headers %q, %v", got.Headers, err)
	}
	list, err := ob.List(StatePending, 0)
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0].Headers, rawHeaders()) {
		t.Fatalf("List: %v, %v", list, err)
	}
	leased := leaseIDs(t, ob)
	if len(leased) != 1 || !reflect.DeepEqual(leased[0].Headers, rawHeaders()) {
		t.Fatalf("lease: %v", leased)
	}
	if err := ob.complete(leased[0], Attempt{N: 1, Outcome: OutcomeDelivered}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := ob.Purge(time.Now().Add(time.Hour), 0); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if k := keysFor(t, ob, d.ID); k != 0 {
		t.Errorf("%d records of the purged delivery left", k)
	}
	err = ob.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bOrder).Stats().KeyN; n != 0 {
			t.Errorf("%d order entries left", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With Options.Attempt the sender makes no request of its own: the
// function posts the stored body and headers (here with Client.Post), and
// its number is the delivery's.
func TestAttemptFunctionSendsStoredHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	rc := newReceiver(t, func(_ int, r *http.Request, _ http.ResponseWriter) int {
		got <- r.Header.Clone()
		return http.StatusNoContent
	})
	ob, _ := openTestOutbox(t, OutboxOptions{})
	c := testClient(t, ClientOptions{UserAgent: "test-agent"})
	s, final := runSender(t, ob, Options{Attempt: func(ctx context.Context, d *Delivery, n int) *Result {
		h := d.Headers.Clone()
		h.Set("X-Number", strconv.Itoa(n))
		return c.Post(ctx, rc.URL, d.Body, h)
	}})
	d := newTestDelivery(t, rc.URL)
	d.Secret, d.Headers = nil, rawHeaders()
	if err := s.Enqueue(d); err != nil {
		t.Fatal(err)
	}
	if d := waitFinal(t, final); d.State != StateDelivered {
		t.Fatalf("%s: %s", d.State, d.LastError)
	}
	seen := <-got
	for name, vals := range rawHeaders() {
		if !reflect.DeepEqual(seen[name], vals) {
			t.Errorf("%s = %q, want %q", name, seen[name], vals)
		}
	}
	if seen.Get("X-Number") != "1" || seen.Get("User-Agent") != "test-agent" || seen.Get(HeaderDeliveryID) != "" {
		t.Errorf("headers %v: want X-Number 1, the client's user agent and no sender header", seen)
	}
	if string(rc.requests()[0].Body) != sampleBody {
		t.Errorf("body %q", rc.requests()[0].Body)
	}
}

// A delivery whose headers record is corrupt is failed when leased, like
// one whose payload is, and does not hold back the next.
func TestCorruptHeadersFailTheDelivery(t *testing.T) {
	ob, path := openTestOutbox(t, OutboxOptions{})
	bad, good := newTestDelivery(t, "http://127.0.0.1:9/"), newTestDelivery(t, "http://127.0.0.1:9/")
	bad.Headers = rawHeaders()
	mustEnqueue(t, ob, bad, good)
	ob = rewriteRecord(t, ob, path, bHeaders, bad.ID, []byte{0x7f, 'x'})
	b, err := ob.lease(time.Now(), 10, func(string) int { return 10 })
	if err != nil || len(b.leased) != 1 || b.leased[0].ID != good.ID || len(b.broken) != 1 || b.broken[0].ID != bad.ID {
		t.Fatalf("lease: leased %v broken %v, %v", ids(b.leased), ids(b.broken), err)
	}
	if d, _ := ob.List(StateFailed, 0); len(d) != 1 || d[0].LastError != errPayload {
		t.Fatalf("failed: %+v", d)
	}
}

// A file written before the headers and order buckets existed opens
// read-only as it is; a writable open adds them.
func TestOlderFileWithoutLaterBuckets(t *testing.T) {
	ob, path := openTestOutbox(t, OutboxOptions{})
	d := newTestDelivery(t, "http://127.0.0.1:9/")
	mustEnqueue(t, ob, d)
	ob.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range laterBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ro, err := OpenOutbox(path, OutboxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of an older file: %v", err)
	}
	if got, _, err := ro.Get(d.ID); err != nil || string(got.Body) != sampleBody || got.Headers != nil {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := ro.Backlogs(); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	rw, err := OpenOutbox(path, OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if ok, err := rw.ready(false); err != nil || !ok {
		t.Fatalf("after a writable open: ready %v, %v", ok, err)
	}
}

// OldestPending is the earliest queue time among pending deliveries: an
// old delivery replayed counts from its replay.
func TestOldestPending(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	if at, err := ob.OldestPending(); err != nil || !at.IsZero() {
		t.Fatalf("empty: %v, %v", at, err)
	}
	base := time.Now().Add(-time.Hour)
	old, _ := NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(sampleBody), testSecret, base)
	newer, _ := NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(sampleBody), testSecret, base.Add(30*time.Minute))
	mustEnqueue(t, ob, newer, old)
	if at, err := ob.OldestPending(); err != nil || !at.Equal(base) {
		t.Fatalf("OldestPending = %v, %v; want %v", at, err, base)
	}
	leased := leaseIDs(t, ob)
	for _, d := range leased {
		if err := ob.complete(d, Attempt{N: 1, Outcome: OutcomeDelivered}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	replayAt := base.Add(45 * time.Minute)
	if _, err := ob.Replay(old.ID, replayAt); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Replay(newer.ID, base.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if at, err := ob.OldestPending(); err != nil || !at.Equal(replayAt) {
		t.Fatalf("after replays: OldestPending = %v, %v; want %v", at, err, replayAt)
	}
}
