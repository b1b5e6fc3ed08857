package inbox_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// With concurrency 1 the application never has two deliveries in flight,
// even with a backlog: 40 events are queued while it is down, then it
// starts, taking 5 ms over each request.
func TestConcurrencyOneNeverTwoInFlight(t *testing.T) {
	appAddr := fmt.Sprintf("127.0.0.1:%d", gatewaytest.FreePort(t))
	store := filepath.Join(t.TempDir(), "inbox.db")
	gw := startInbox(t, gatewaytest.Options{Config: inboxConfig(store, "http://"+appAddr,
		"concurrency 1", "attempts 1000", "backoff 50ms 200ms")})
	const events = 40
	for i := range events {
		mustQueue(t, gw, event(i))
	}
	var inFlight, most atomic.Int64
	app := gatewaytest.NewUpstreamAt(t, appAddr)
	app.Respond(func(int, gatewaytest.Request) int {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		return 204
	})
	eventually.Succeeds(t, time.Minute, func() error {
		if n := app.Count(); n < events {
			return fmt.Errorf("%d of %d delivered", n, events)
		}
		return nil
	})
	if m := most.Load(); m != 1 {
		t.Fatalf("%d deliveries were in flight at once, want 1", m)
	}
}
