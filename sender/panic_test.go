package sender

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/recovery"
	"github.com/scgate/scgate/internal/recovery/recoverytest"
)

// A panic in the sender's background work (an attempt, the caller's
// OnAttempt, the purge loop, the line a worker logs) is logged and counted;
// the process and the sender go on, and every delivery is still made.
func TestSenderSurvivesPanics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		where string
		setup func(o *Options, c *Client)
	}{
		{"attempt", "sender.attempt", func(o *Options, c *Client) {
			var once atomic.Bool
			next := c.hc.Transport
			c.hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if once.CompareAndSwap(false, true) {
					panic("planned panic in the transport")
				}
				return next.RoundTrip(r)
			})
		}},
		{"on attempt callback", "sender.on_attempt", func(o *Options, c *Client) {
			var once atomic.Bool
			o.OnAttempt = func(*Delivery, Attempt) {
				if once.CompareAndSwap(false, true) {
					panic("planned panic in OnAttempt")
				}
			}
		}},
		{"worker log line", "sender.worker", func(o *Options, c *Client) {
			o.Logger, _ = recoverytest.PanicOn("delivery attempt", 1)
		}},
		{"purge loop", "sender.purge", func(o *Options, c *Client) {
			o.Logger, _ = recoverytest.PanicOn("purged old deliveries", 1)
			o.Retain, o.PurgeInterval = time.Nanosecond, 10*time.Millisecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			ob, _ := openTestOutbox(t, OutboxOptions{})
			c := testClient(t, ClientOptions{})
			o := Options{Client: c, Schedule: instantSchedule}
			tc.setup(&o, c)
			s, err := New(ob, o)
			if err != nil {
				t.Fatal(err)
			}
			before := testutil.ToFloat64(recovery.Panics.WithLabelValues(tc.where))
			startSender(t, s)

			// Deliveries made one after the other: the first meets the
			// panic, the next ones show the sender still works.
			ids := make([]string, 3)
			for i := range ids {
				d := newTestDelivery(t, srv.URL)
				ids[i] = d.ID
				if err := s.Enqueue(d); err != nil {
					t.Fatal(err)
				}
				eventually.Succeeds(t, 10*time.Second, func() error {
					got, _, err := ob.Get(d.ID)
					switch {
					case errors.Is(err, ErrNotFound) && o.Retain > 0:
						return nil // delivered, then purged
					case err != nil:
						return err
					case got.State != StateDelivered && o.Retain == 0:
						return errors.New("not delivered yet: " + string(got.State))
					case o.Retain > 0:
						return errors.New("not purged yet")
					}
					return nil
				})
			}
			if got := testutil.ToFloat64(recovery.Panics.WithLabelValues(tc.where)) - before; got != 1 {
				t.Fatalf("panics counted under %q: %v, want 1", tc.where, got)
			}
		})
	}
}
