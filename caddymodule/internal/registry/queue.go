package registry

import (
	"time"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

// Queue is what the dashboard reads and requeues in a store: deliveries
// by state, one with its attempt log, the counts, and replays (a retry is
// a replay of a failed or gone delivery). A *sender.Sender is a Queue; an
// inbox.Engine is one through Inbox.
type Queue interface {
	// List returns up to limit deliveries in state, oldest first.
	List(state sender.State, limit int) ([]*sender.Delivery, error)
	// Get returns a delivery and its attempt log; sender.ErrNotFound if
	// the store does not hold it.
	Get(id string) (*sender.Delivery, []sender.Attempt, error)
	// Stats counts the deliveries by state and reads the oldest pending.
	Stats() (sender.Stats, error)
	// Replay queues a delivered, failed or gone delivery again.
	Replay(id string) (*sender.Delivery, error)
	// ReplayAll replays every delivery in state that became so at or
	// after from and before to (a zero end is open).
	ReplayAll(state sender.State, from, to time.Time) ([]*sender.Delivery, error)
	// DeliverNow makes a pending delivery waiting for a retry due at
	// once (an inbox on JetStream: inbox.ErrUnsupported).
	DeliverNow(id string) (*sender.Delivery, error)
}

// An outbox's sender is a Queue.
var _ Queue = (*sender.Sender)(nil)

// Inbox returns an inbox engine as a Queue, nil for a nil engine (one not
// open).
func Inbox(e inbox.Engine) Queue {
	if e == nil {
		return nil
	}
	return engineQueue{e}
}

// engineQueue reads an inbox's entries as the deliveries they wrap.
type engineQueue struct{ e inbox.Engine }

func (q engineQueue) List(state sender.State, limit int) ([]*sender.Delivery, error) {
	es, err := q.e.List(state, limit)
	return deliveries(es), err
}

func (q engineQueue) Get(id string) (*sender.Delivery, []sender.Attempt, error) {
	e, log, err := q.e.Get(id)
	if err != nil {
		return nil, nil, err
	}
	return e.Delivery, log, nil
}

func (q engineQueue) Stats() (sender.Stats, error) { return q.e.Stats() }

func (q engineQueue) Replay(id string) (*sender.Delivery, error) {
	e, err := q.e.Replay(id)
	if err != nil {
		return nil, err
	}
	return e.Delivery, nil
}

func (q engineQueue) ReplayAll(state sender.State, from, to time.Time) ([]*sender.Delivery, error) {
	es, err := q.e.ReplayAll(state, from, to)
	return deliveries(es), err
}

func (q engineQueue) DeliverNow(id string) (*sender.Delivery, error) {
	e, err := q.e.DeliverNow(id)
	if err != nil {
		return nil, err
	}
	return e.Delivery, nil
}

func deliveries(es []*inbox.Entry) []*sender.Delivery {
	out := make([]*sender.Delivery, len(es))
	for i, e := range es {
		out[i] = e.Delivery
	}
	return out
}
