package inbox

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// An event is forwarded as it came: the exact body, the original headers
// and signature, without the hop-by-hop ones and a spoofed X-Scgate-
// header, with the gateway's; the entry keeps it for Get.
func TestEnqueueForwardsTheRequest(t *testing.T) {
	ds := newDestination(t, nil)
	in := openInbox(t, Options{Settings: Settings{Destination: ds.URL + "/hook"}})
	run(t, in)
	ev := event(1, "")
	id, err := in.Enqueue(ev)
	if err != nil || id == "" {
		t.Fatalf("Enqueue = %q, %v", id, err)
	}
	got := ds.waitDelivered(t, 1)
	if err := checkForwarded(got[0], ev, id); err != nil {
		t.Fatal(err)
	}
	if a := got[0].Header.Get(HeaderDeliveryAttempt); a != "1" {
		t.Errorf("attempt %q, want 1", a)
	}
	// The destination has the request before the inbox records the
	// attempt's answer: wait for the record.
	var e *Entry
	eventually.Succeeds(t, 10*time.Second, func() error {
		var log []Attempt
		var err error
		e, log, err = in.Get(id)
		if err != nil || e.State != StateDelivered || len(log) != 1 || e.DedupeKey() != ev.DedupeKey {
			return fmt.Errorf("Get = %+v %v %v", e, log, err)
		}
		return nil
	})
	if string(e.Body) != string(ev.Body) || len(e.Secret) != 0 {
		t.Errorf("entry body %q, secret %d bytes", e.Body, len(e.Secret))
	}
	if _, ok := e.Header()[HeaderDedupeKey]; ok || e.Header().Get("X-Screenshotcenter-Signature") != ev.Header.Get("X-Screenshotcenter-Signature") {
		t.Errorf("entry header %v", e.Header())
	}
}

// A re-encoded event carries X-Scgate-Reencoded with its style, which
// the entry's Header leaves out like the dedupe key.
func TestEnqueueReencoded(t *testing.T) {
	ds := newDestination(t, nil)
	in := openInbox(t, Options{Settings: Settings{Destination: ds.URL}})
	run(t, in)
	ev := event(3, "")
	ev.Reencoded = "js"
	id, err := in.Enqueue(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.waitDelivered(t, 1)[0].Header.Values(HeaderReencoded); len(got) != 1 || got[0] != "js" {
		t.Fatalf("%s = %q, want js", HeaderReencoded, got)
	}
	e, _, err := in.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Header()[HeaderReencoded]; ok {
		t.Errorf("entry header %v holds %s", e.Header(), HeaderReencoded)
	}
}

// Nothing is queued, and no id returned, when the file is closed or a
// header could never be sent.
func TestEnqueueRefuses(t *testing.T) {
	in := openInbox(t, Options{Settings: Settings{Destination: "http://127.0.0.1:9/"}})
	bad := event(1, "")
	bad.Header["X-Bad"] = []string{"line\nbreak"}
	if id, err := in.Enqueue(bad); !errors.Is(err, ErrInvalidHeader) || id != "" {
		t.Errorf("Enqueue with a newline in a header = %q, %v; want ErrInvalidHeader", id, err)
	}
	if st, _ := in.Stats(); st.Entries[StatePending] != 0 {
		t.Fatalf("%d entries queued", st.Entries[StatePending])
	}
	in.Close()
	if id, err := in.Enqueue(event(2, "")); !errors.Is(err, ErrClosed) || id != "" {
		t.Errorf("Enqueue after Close = %q, %v; want ErrClosed", id, err)
	}
}

// Open refuses a destination that is not an absolute http(s) URL, and a
// file that cannot be created.
func TestOpenRefuses(t *testing.T) {
	for _, dest := range []string{"", "/relative", "ftp://127.0.0.1/", "http://"} {
		if _, err := Open(filepath.Join(t.TempDir(), "inbox.db"), Options{Settings: Settings{Destination: dest}}); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("destination %q: %v, want ErrInvalidURL", dest, err)
		}
	}
	in := openInbox(t, Options{Settings: Settings{Destination: "http://127.0.0.1:9/"}})
	in.Close()
	if _, err := Open(filepath.Join(in.Path(), "inbox.db"), Options{Settings: Settings{Destination: "http://127.0.0.1:9/"}}); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

// 2xx delivers, 410 is gone at once, a redirect is not followed, and
// anything else (an error status, a redirect, no answer within the
// timeout) is retried until the attempts run out: a dead letter, listed as
// failed.
func TestOutcomes(t *testing.T) {
	var followed atomic.Bool
	ds := newDestination(t, func(w http.ResponseWriter, r *http.Request, _ []byte) int {
		switch r.URL.Path {
		case "/gone":
			return http.StatusGone
		case "/moved":
			w.Header().Set("Location", "/target")
			return http.StatusFound
		case "/fail":
			return http.StatusInternalServerError
		case "/slow":
			<-r.Context().Done() // until the attempt's timeout gives up
			return http.StatusOK
		case "/target":
			followed.Store(true)
		}
		return http.StatusOK
	})
	for _, tt := range []struct {
		path     string
		state    State
		attempts int
		kind     string
	}{
		{"/ok", StateDelivered, 1, "2xx"}, {"/gone", StateGone, 1, "4xx"}, {"/fail", StateFailed, 3, "5xx"},
		{"/moved", StateFailed, 3, "3xx"}, {"/slow", StateFailed, 3, "timeout"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			settled := make(chan *Entry, 1)
			in := openInbox(t, Options{
				Settings:  Settings{Destination: ds.URL + tt.path, Attempts: 3, Backoff: fast.Backoff, Timeout: 50 * time.Millisecond},
				OnSettled: func(e *Entry, _ time.Duration) { settled <- e },
			})
			run(t, in)
			id, err := in.Enqueue(event(1, ""))
			if err != nil {
				t.Fatal(err)
			}
			e := waitEntry(t, settled)
			if e.ID != id || e.State != tt.state || e.Attempts != tt.attempts {
				t.Fatalf("%s after %d attempts, want %s after %d", e.State, e.Attempts, tt.state, tt.attempts)
			}
			if list, err := in.List(tt.state, 0); err != nil || len(list) != 1 || list[0].ID != id {
				t.Fatalf("List(%s) = %v, %v", tt.state, list, err)
			}
			if _, log, _ := in.Get(id); len(log) != tt.attempts || log[len(log)-1].Kind != tt.kind {
				t.Fatalf("log %+v, want %d attempts, the last %s", log, tt.attempts, tt.kind)
			}
		})
	}
	if followed.Load() {
		t.Error("a redirect was followed")
	}
}
