package sender

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNewDeliveryRejects(t *testing.T) {
	now := time.Now()
	cases := []struct {
		url, ev, body, secret string
		want                  error
	}{
		{"ftp://x/", "e", "{}", testSecretText, ErrInvalidURL},
		{"/relative", "e", "{}", testSecretText, ErrInvalidURL},
		{"http://", "e", "{}", testSecretText, ErrInvalidURL},
		{"http://x/", "", "{}", testSecretText, ErrInvalidEvent},
		{"http://x/", "a\nb", "{}", testSecretText, ErrInvalidEvent},
		{"http://x/", "e", "", testSecretText, ErrEmptyBody},
		{"http://x/", "e", "{}", "", ErrEmptySecret},
		// The rule configs and the CLI apply holds for the Go API too: a
		// short secret is guessed offline from one signed event.
		{"http://x/", "e", "{}", "s", ErrWeakSecret},
		{"http://x/", "e", "{}", "fifteen-bytes!!", ErrWeakSecret},
		{"http://x/", "e", "{}", "                ", ErrWeakSecret},
	}
	for _, c := range cases {
		if _, err := NewDelivery(c.url, c.ev, []byte(c.body), []byte(c.secret), now); !errors.Is(err, c.want) {
			t.Errorf("NewDelivery(%q, %q, %q, %q) = %v, want %v", c.url, c.ev, c.body, c.secret, err, c.want)
		}
	}
}

// A 2xx whose body is cut short by the sender stopping is delivered, not
// interrupted (and sent again), in the background and in the foreground;
// an attempt stopped before any answer is interrupted. The stop is made at
// a precise point by a wrapper around the client's real transport: right
// after the answer's header arrived (the body still being sent), or just
// before the request is sent.
func TestAnswerDecidesOnShutdown(t *testing.T) {
	for _, tc := range []struct {
		name        string
		afterHeader bool // stop after the answer's header, else before the request
		run         func(ctx context.Context, c *Client, ob *Outbox, d *Delivery) State
		want        State
	}{
		{"Run, stopped while reading a 200", true, runUntilStopped, StateDelivered},
		{"Deliver, stopped while reading a 200", true, deliverUntilStopped, StateDelivered},
		{"Run, stopped before the request", false, runUntilStopped, StatePending},
		{"Deliver, stopped before the request", false, deliverUntilStopped, StatePending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("o"))
				w.(http.Flusher).Flush()
				select { // the rest of the body never comes in time
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			defer close(release)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := testClient(t, ClientOptions{})
			real := c.hc.Transport
			c.hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if !tc.afterHeader {
					cancel()
					return real.RoundTrip(r)
				}
				resp, err := real.RoundTrip(r)
				cancel()
				return resp, err
			})
			ob, _ := openTestOutbox(t, OutboxOptions{})
			d := newTestDelivery(t, srv.URL)
			if got := tc.run(ctx, c, ob, d); got != tc.want {
				t.Fatalf("state %s, want %s", got, tc.want)
			}
		})
	}
}

func runUntilStopped(ctx context.Context, c *Client, ob *Outbox, d *Delivery) State {
	if err := ob.Enqueue(d); err != nil {
		return State("enqueue: " + err.Error())
	}
	// No grace: the stop cuts the attempt short at the point the test
	// chose (TestStopGrace covers the grace period).
	s, err := New(ob, Options{Client: c, StopGrace: -1})
	if err != nil {
		return State(err.Error())
	}
	s.Run(ctx)
	got, log, err := ob.Get(d.ID)
	if err != nil {
		return State(err.Error())
	}
	if got.State == StatePending && (len(log) != 1 || log[0].Outcome != OutcomeInterrupted || got.Attempts != 0) {
		return "pending but not interrupted"
	}
	return got.State
}

func deliverUntilStopped(ctx context.Context, c *Client, _ *Outbox, d *Delivery) State {
	st, _ := Deliver(ctx, c, Schedule{}, d, nil)
	return st
}
