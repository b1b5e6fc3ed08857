package inbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

// The crash test's events: total events over keys screenshots, each key's
// events numbered from 0 in the order they are sent.
const (
	crashEvents = 1000
	crashKeys   = 50
	crashSender = 16
)

// crashEvent is the seq-th event of screenshot key: the dedupe key is the
// body's hash (one screenshot has many events), the order key its
// screenshot_id.
func crashEvent(key, seq int) []byte {
	return fmt.Appendf(nil, `{"event":"screenshot.progress","screenshot_id":"sc_crash_%d","seq":%d,"created_at":"2026-02-22T14:30:00Z"}`, key, seq)
}

// Nothing acknowledged is lost, and order_by holds through a crash: the
// application is down for the whole sending phase; 16 senders send 1,000
// events (each sends its screenshots' events one after the other, as a
// provider retrying until it gets 202); the gateway is killed with
// SIGKILL in the middle and started again on the same inbox; then the
// application starts. Every event is delivered with the bytes that were
// sent and a valid signature, and each screenshot's events arrive in the
// order they were sent.
func TestNothingAcknowledgedIsLost(t *testing.T) {
	appAddr := fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(t)) // nothing listens there yet
	store := filepath.Join(t.TempDir(), "inbox.db")
	opts := gatewaytest.Options{Config: handlerConfig(store, "http://"+appAddr+"/hook", []string{"dedupe {\n\t\t\tkey {body_sha256}\n\t\t}"},
		[]string{"attempts 10000", "backoff 100ms 300ms 1s", "concurrency 8", "order_by {screenshot_id}"})}
	gw := startInbox(t, opts)
	opts.HTTPPort, opts.AdminPort, opts.HTTPSPort = gw.HTTPPort, gw.AdminPort, gw.HTTPSPort

	var acks atomic.Int64
	var mu sync.Mutex
	var current = gw // the gateway the senders send to
	sentErr := make(chan error, crashSender)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for g := range crashSender {
		wg.Go(func() {
			perKey := crashEvents / crashKeys
			for seq := range perKey {
				for key := g; key < crashKeys; key += crashSender {
					body := crashEvent(key, seq)
					deadline := time.Now().Add(2 * time.Minute)
					for {
						mu.Lock()
						to := current
						mu.Unlock()
						a, err := send(client, to, body)
						if err == nil && a.status == http.StatusAccepted {
							acks.Add(1)
							break
						}
						if err == nil && a.status == http.StatusOK && a.outcome == "duplicate" {
							break // queued before, its 202 lost in the crash
						}
						if time.Now().After(deadline) {
							sentErr <- fmt.Errorf("event %d/%d not acknowledged: %+v, %v", key, seq, a, err)
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			}
		})
	}
	eventually.Succeeds(t, 2*time.Minute, func() error {
		if n := acks.Load(); n < crashEvents*2/5 {
			return fmt.Errorf("%d events acknowledged", n)
		}
		return nil
	})
	gw.Kill()
	atKill := acks.Load()
	restarted := startInbox(t, opts)
	mu.Lock()
	current = restarted
	mu.Unlock()
	wg.Wait()
	close(sentErr)
	for err := range sentErr {
		t.Fatal(err)
	}
	t.Logf("%d events acknowledged when the gateway was killed, %d in all", atKill, acks.Load())

	app := gatewaytest.NewUpstreamAt(t, appAddr)
	eventually.Succeeds(t, 2*time.Minute, func() error {
		if missing := len(undelivered(app)); missing > 0 {
			return fmt.Errorf("%d events not delivered yet", missing)
		}
		return nil
	})
	delivered := app.Requests()
	v, err := verifier.New([][]byte{[]byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]int{}
	for _, r := range delivered {
		if _, err := v.Verify(r.Body, r.Header.Values("X-Screenshotcenter-Signature")); err != nil {
			t.Errorf("delivered %s: %v", r.Body, err)
		}
		key, seq, err := parseCrashEvent(r.Body)
		if err != nil {
			t.Fatalf("delivered %q: %v", r.Body, err)
		}
		seqs[key] = append(seqs[key], seq)
	}
	for key, got := range seqs {
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] {
				t.Errorf("%s: events arrived out of order: %v", key, got)
				break
			}
		}
	}
	t.Logf("%d deliveries for %d events (at least once: an event whose 202 the crash lost was queued again)", len(delivered), crashEvents)
}

// undelivered lists the crash events app has not received byte for byte.
func undelivered(app *gatewaytest.Upstream) []string {
	got := map[string]bool{}
	for _, r := range app.Requests() {
		got[string(r.Body)] = true
	}
	var missing []string
	for key := range crashKeys {
		for seq := range crashEvents / crashKeys {
			if b := crashEvent(key, seq); !got[string(b)] {
				missing = append(missing, string(b))
			}
		}
	}
	return missing
}

// parseCrashEvent reads the screenshot and seq of a crash event.
func parseCrashEvent(body []byte) (string, int, error) {
	var key, seq int
	if _, err := fmt.Sscanf(string(body), `{"event":"screenshot.progress","screenshot_id":"sc_crash_%d","seq":%d,`, &key, &seq); err != nil {
		return "", 0, errors.New("not a crash event")
	}
	return "sc_crash_" + strconv.Itoa(key), seq, nil
}
