package inbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/natstest"
	"github.com/scgate/scgate/verifier"
)

// sharedInbox is two gateways on one JetStream inbox (stream SHARED on
// srv) delivering to appAddr, where nothing listens yet.
func sharedInbox(t *testing.T, srv *natstest.Server, appAddr string) [2]*gatewaytest.Gateway {
	t.Helper()
	cfg := natsConfig(srv.URL(), "SHARED", "http://"+appAddr+"/hook", []string{"dedupe {\n\t\t\tkey {body_sha256}\n\t\t}"},
		[]string{"attempts 10000", "backoff 100ms 300ms 1s", "timeout 2s", "concurrency 8"})
	return [2]*gatewaytest.Gateway{startInbox(t, gatewaytest.Options{Config: cfg}), startInbox(t, gatewaytest.Options{Config: cfg})}
}

// sendAll sends the crash events from crashSender concurrent senders,
// each event to one of gws in turn, as a provider does: it retries on
// anything but a 202 (or the 200 duplicate of an event whose 202 was
// lost) until it is acknowledged, for up to 2 minutes. It returns the ids
// acknowledged, how many answers were 503, and the events not
// acknowledged in time.
func sendAll(gws [2]*gatewaytest.Gateway, acks *atomic.Int64) (ids map[string]bool, unavailable int64, err error) {
	var mu sync.Mutex
	var refused atomic.Int64
	ids = map[string]bool{}
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, crashSender)
	for g := range crashSender {
		wg.Go(func() {
			n := 0
			for seq := range crashEvents / crashKeys {
				for key := g; key < crashKeys; key += crashSender {
					body := crashEvent(key, seq)
					n++
					deadline := time.Now().Add(2 * time.Minute)
					for try := 0; ; try++ {
						a, err := send(client, gws[(n+try)%2], body)
						if err == nil && a.status == http.StatusAccepted {
							acks.Add(1)
							mu.Lock()
							ids[a.delivery] = true
							mu.Unlock()
							break
						}
						if err == nil && a.status == http.StatusOK && a.outcome == "duplicate" {
							break
						}
						if err == nil && a.status == http.StatusServiceUnavailable {
							refused.Add(1)
						}
						if time.Now().After(deadline) {
							errs <- fmt.Errorf("event %d/%d not acknowledged: %+v, %v", key, seq, a, err)
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return ids, refused.Load(), errors.Join(all...)
}

// checkDelivered waits until app received every crash event, checks the
// bytes and signatures and that every acknowledged id was delivered, and
// returns how many deliveries were duplicates.
func checkDelivered(t *testing.T, app *gatewaytest.Upstream, ids map[string]bool) int {
	t.Helper()
	eventually.Succeeds(t, 3*time.Minute, func() error {
		if missing := len(undelivered(app)); missing > 0 {
			return fmt.Errorf("%d events not delivered yet", missing)
		}
		return nil
	})
	v, err := verifier.New([][]byte{[]byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range app.Requests() {
		if _, err := v.Verify(r.Body, r.Header.Values("X-Screenshotcenter-Signature")); err != nil {
			t.Errorf("delivered %s: %v", r.Body, err)
		}
		if _, _, err := parseCrashEvent(r.Body); err != nil {
			t.Errorf("delivered %q: %v", r.Body, err)
		}
		seen[r.Header.Get("X-Scgate-Delivery-Id")]++
	}
	for id := range ids {
		if seen[id] == 0 {
			t.Errorf("acknowledged entry %s was never delivered", id)
		}
	}
	dup := 0
	for _, n := range seen {
		dup += n - 1
	}
	return dup
}

// Two gateways share one JetStream inbox (nats-server with its file store
// in a directory of its own), the application down: 1,000 events are
// acknowledged through both by 16 concurrent senders; one gateway is
// killed with SIGKILL and its data directory deleted; the application
// starts: the surviving gateway delivers every acknowledged event, with
// the bytes sent and a valid signature. Duplicates are counted and
// reported (at least once: an attempt of the killed gateway in flight is
// made again).
func TestSharedInboxLosesNothingWithAGateway(t *testing.T) {
	srv := natstest.Start(t)
	appAddr := fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(t))
	gws := sharedInbox(t, srv, appAddr)
	var acks atomic.Int64
	ids, refused, err := sendAll(gws, &acks)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != crashEvents {
		t.Fatalf("%d entries acknowledged, want %d", len(ids), crashEvents)
	}
	gws[0].Kill()
	if err := os.RemoveAll(gws[0].Dir); err != nil {
		t.Fatal(err)
	}
	app := gatewaytest.NewUpstreamAt(t, appAddr)
	dup := checkDelivered(t, app, ids)
	// The survivor made every delivery: its metrics count them all.
	want := fmt.Sprintf(`scgate_inbox_attempts_total{endpoint="default",kind="2xx",outcome="delivered"} %d`, len(app.Requests()))
	eventually.Succeeds(t, time.Minute, func() error {
		if m := scrape(t, gws[1]); !strings.Contains(m, want) {
			return fmt.Errorf("the survivor's metrics lack %s", want)
		}
		return nil
	})
	t.Logf("%d events acknowledged through two gateways (%d answers 503), one killed and its data deleted; %d deliveries by the survivor, %d duplicates",
		len(ids), refused, len(app.Requests()), dup)
}

// nats-server is killed (SIGKILL) and restarted on its file store while
// 16 senders send 1,000 events through two gateways: meanwhile events
// are answered 503 (the senders retry, as a provider does); no
// acknowledged event is lost, and the gateways heal without a restart.
func TestSharedInboxLosesNothingWithNATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	appAddr := fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(t))
	gws := sharedInbox(t, srv, appAddr)
	var acks atomic.Int64
	type result struct {
		ids     map[string]bool
		refused int64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		ids, refused, err := sendAll(gws, &acks)
		done <- result{ids, refused, err}
	}()
	eventually.Succeeds(t, 2*time.Minute, func() error {
		if n := acks.Load(); n < crashEvents*3/10 {
			return fmt.Errorf("%d events acknowledged", n)
		}
		return nil
	})
	srv.Stop()
	atStop := acks.Load()
	// While it is away, no event is acknowledged.
	eventually.Succeeds(t, time.Minute, func() error {
		a, err := send(http.DefaultClient, gws[1], event(0))
		if err != nil || a.status != http.StatusServiceUnavailable || a.reason != "inbox_unavailable" {
			return fmt.Errorf("with nats-server down: %+v %v, want 503 inbox_unavailable", a, err)
		}
		return nil
	})
	srv.Restart()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.ids) != crashEvents {
		t.Fatalf("%d entries acknowledged, want %d", len(res.ids), crashEvents)
	}
	for _, gw := range gws {
		if !gw.Running() {
			t.Fatal("a gateway exited")
		}
	}
	app := gatewaytest.NewUpstreamAt(t, appAddr)
	dup := checkDelivered(t, app, res.ids)
	t.Logf("%d acknowledged when nats-server was killed, %d in all (%d answers 503 meanwhile); %d deliveries, %d duplicates",
		atStop, len(res.ids), res.refused, len(app.Requests()), dup)
}

// A provider's retry of an event that one gateway queued and has since
// delivered, reaching the other gateway (its own memory dedupe has not
// seen it) within JetStream's duplicate window, is answered 200 duplicate
// and not queued again: JetStream recognises the publish. It was answered
// 503 inbox_unavailable (the entry's id no longer known), so the provider
// retried for the whole window and then had it queued and delivered twice.
func TestSharedInboxRetryOfADeliveredEventOnTheOtherGateway(t *testing.T) {
	srv := natstest.Start(t)
	app := gatewaytest.NewUpstream(t)
	gws := sharedInbox(t, srv, app.Addr)
	id := mustQueue(t, gws[0], event(7))
	waitState(t, gws[0], id, "delivered")
	a, err := send(http.DefaultClient, gws[1], event(7))
	if err != nil || a.status != http.StatusOK || a.outcome != "duplicate" {
		t.Fatalf("the retry through the other gateway: %+v %v, want 200 duplicate", a, err)
	}
	// Its own copies are duplicates from then on, without asking JetStream.
	if a, err := send(http.DefaultClient, gws[1], event(7)); err != nil || a.outcome != "duplicate" {
		t.Fatalf("a second retry: %+v %v, want 200 duplicate", a, err)
	}
	if n := app.Count(); n != 1 {
		t.Fatalf("the application received %d requests, want 1", n)
	}
}
