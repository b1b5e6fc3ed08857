package inbox

import (
	"context"
	"net/http"
	"strconv"

	"github.com/scgate/scgate/sender"
)

// attempt makes attempt n of an entry: a POST of its exact body to the
// destination, with its stored headers and the gateway's. Numbers go on
// across replays (Delivery.KeepNumbering).
func (in *Inbox) attempt(ctx context.Context, d *sender.Delivery, n int) *sender.Result {
	return in.client.Load().Post(ctx, *in.dest.Load(), d.Body, AttemptHeader(d.Headers, d.ID, n))
}

// AttemptHeader returns the headers of attempt n of entry id stored with
// h (from Prepare): a copy of h plus the gateway's X-Scgate- headers. Every
// engine sends what it returns.
func AttemptHeader(h http.Header, id string, n int) http.Header {
	out := h.Clone()
	if out == nil {
		out = make(http.Header, 3)
	}
	out[HeaderVerified] = []string{"true"}
	out[HeaderDeliveryID] = []string{id}
	out[HeaderDeliveryAttempt] = []string{strconv.Itoa(n)}
	return out
}

// observe passes a recorded attempt to the hooks.
func (in *Inbox) observe(d *sender.Delivery, a sender.Attempt) {
	e := &Entry{Delivery: d}
	if in.onAttempt != nil {
		in.onAttempt(e, a)
	}
	if in.onSettled != nil && d.State != StatePending {
		in.onSettled(e, max(in.now().Sub(d.Queued()), 0))
	}
}
