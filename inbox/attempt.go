package inbox

import (
	"context"
	"strconv"

	"github.com/scgate/scgate/sender"
)

// attempt makes attempt n of an entry: a POST of its exact body to the
// destination, with its stored headers and the gateway's. Numbers go on
// across replays (Delivery.KeepNumbering).
func (in *Inbox) attempt(ctx context.Context, d *sender.Delivery, n int) *sender.Result {
	h := d.Headers.Clone()
	if h == nil {
		h = make(map[string][]string, 3)
	}
	h[HeaderVerified] = []string{"true"}
	h[HeaderDeliveryID] = []string{d.ID}
	h[HeaderDeliveryAttempt] = []string{strconv.Itoa(n)}
	return in.client.Load().Post(ctx, *in.dest.Load(), d.Body, h)
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
