package screenshotcenterwebhook

import (
	"errors"
	"io"
	"net/http"

	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/refusal"
)

// errInboxUnavailable refuses an event the inbox could not store (a full
// disk, a file that cannot be written, an inbox not open): nothing is
// acknowledged that is not on disk, and the sender retries.
var errInboxUnavailable = refusal.New(http.StatusServiceUnavailable, "inbox_unavailable", "the inbox could not store the event")

var errInboxNotOpen = errors.New("the inbox is not open: no config using it has started")

// queuedHeader is the X-Scgate-Outcome of a queued event.
var queuedHeader = []string{outcomeQueued}

// queue is the inbox deliverer of the flow: it writes the event durably
// to the inbox, then settles the claim by that (commit once it is on
// disk, release if it could not be written) and answers the provider
// itself: 202 with the entry's id, or 503 with Retry-After; a copy the
// engine recognises as already settled is a duplicate. The inbox's
// workers deliver it later; no handler after this one sees it.
func (h *Handler) queue(w http.ResponseWriter, r *http.Request, vars *requestVars, ev gateway.Event, c flow.Claim, up upstreamBody) error {
	id, err := "", errInboxNotOpen
	if in := h.inbox.get(); in != nil {
		id, err = in.Enqueue(h.inboxEvent(r, ev, c, up))
	}
	if errors.Is(err, inbox.ErrSettledDuplicate) {
		// Taken before (through another gateway of a shared inbox) and
		// settled since: a duplicate. The claim is committed, so that
		// later copies here are answered without asking the engine.
		h.flow.Settle(c, flow.Result{Status: http.StatusOK})
		return h.give(w, r, vars, ev, flow.Outcome{Name: flow.Duplicate, Status: http.StatusOK, Key: c.Key}, nil)
	}
	if err != nil {
		h.flow.Settle(c, flow.Result{Queued: true, Err: err})
		o := flow.Refused(errInboxUnavailable)
		o.Key, o.Err, o.RetryAfter = c.Key, err, flow.StoreRetryAfter
		return h.give(w, r, vars, ev, o, nil)
	}
	o := h.flow.Settle(c, flow.Result{Status: http.StatusAccepted, Queued: true, DeliveryID: id})
	vars.delivery = id
	h.record(r, vars, o)
	hdr := w.Header()
	hdr[HeaderOutcome] = queuedHeader
	hdr["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusAccepted)
	_, err = io.WriteString(w, `{"outcome":"queued","delivery":"`+id+`"}`+"\n")
	return err
}

// inboxEvent is what the inbox stores of a verified request: the body
// the application gets (with reencode, the re-encoding, whose signature
// is made now and stored with the headers: the inbox never signs), the
// request's headers (the inbox drops the hop-by-hop ones), the dedupe key
// as pass-through sends it, and the order key of order_by.
func (h *Handler) inboxEvent(r *http.Request, ev gateway.Event, c flow.Claim, up upstreamBody) inbox.Event {
	r.Header.Del("Incremental")
	e := inbox.Event{Body: up.body, Header: r.Header, Type: string(ev.Signed.Type)}
	if c.State != flow.Off {
		e.DedupeKey = dedupeKeyHeader(c.Key.Display())
	}
	if up.resign {
		h.checker.Scheme.Sign(r.Header, up.secret, up.body, nowFunc())
		e.Reencoded = h.Reencode
	}
	if h.orderBy != nil {
		if k, ok := h.orderBy.Append(nil, ev); ok {
			e.OrderKey = string(k)
		}
	}
	return e
}
