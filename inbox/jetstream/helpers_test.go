package jetstream

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/freeport"
)

// waitTimeout bounds every wait for the engine's background work.
const waitTimeout = 60 * time.Second

// app is a real HTTP destination on loopback that counts the 2xx
// deliveries of each entry id; hang makes it hold every request until
// the test ends (a destination that never answers).
type app struct {
	*httptest.Server
	hang chan struct{}

	mu   sync.Mutex
	got  map[string]int // delivery id -> 2xx deliveries
	seen map[string]int // delivery id -> requests, answered or not
	last http.Header
	code int
}

func newApp(t testing.TB, addr string, hang bool) *app {
	a := &app{got: map[string]int{}, seen: map[string]int{}, code: http.StatusNoContent}
	if hang {
		a.hang = make(chan struct{})
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	a.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: a}}
	a.Start()
	t.Cleanup(func() {
		if a.hang != nil {
			close(a.hang)
		}
		a.Close()
	})
	return a
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	id := r.Header.Get(inbox.HeaderDeliveryID)
	a.mu.Lock()
	a.seen[id]++
	code := a.code
	a.mu.Unlock()
	if a.hang != nil {
		select {
		case <-a.hang:
		case <-r.Context().Done():
		}
		return
	}
	if code >= 200 && code < 300 {
		a.mu.Lock()
		a.got[id]++
		a.last = r.Header.Clone()
		a.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (a *app) setCode(c int) {
	a.mu.Lock()
	a.code = c
	a.mu.Unlock()
}

// counts returns copies of the delivered and seen counts.
func (a *app) counts() (got, seen map[string]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	got, seen = make(map[string]int, len(a.got)), make(map[string]int, len(a.seen))
	for k, v := range a.got {
		got[k] = v
	}
	for k, v := range a.seen {
		seen[k] = v
	}
	return got, seen
}

// waitDelivered waits until every id in ids was delivered.
func (a *app) waitDelivered(t testing.TB, ids []string) map[string]int {
	t.Helper()
	var got map[string]int
	eventually.Succeeds(t, waitTimeout, func() error {
		got, _ = a.counts()
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged events not delivered", missing, len(ids))
		}
		return nil
	})
	return got
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// twice counts the entries of got delivered more than once.
func twice(got map[string]int) int {
	n := 0
	for _, c := range got {
		if c > 1 {
			n++
		}
	}
	return n
}

// open opens an engine on url, closed when the test ends.
func open(t testing.TB, url string, s inbox.Settings, tweak func(*Options)) *Engine {
	t.Helper()
	opts := Options{URL: url, Settings: s, AckMargin: time.Second, EnqueueTimeout: time.Second}
	if tweak != nil {
		tweak(&opts)
	}
	e, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// run runs e until stop is called or the test ends.
func run(t testing.TB, e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// event returns the i-th test event.
func event(i int) inbox.Event {
	body := fmt.Appendf(nil, `{"event":"screenshot.finished","screenshot_id":"sc_%d"}`, i)
	return inbox.Event{Body: body, Header: http.Header{"Content-Type": {"application/json"}, "X-Screenshotcenter-Event": {"screenshot.finished"}},
		DedupeKey: fmt.Sprintf("sc_%d", i), Type: "screenshot.finished"}
}
