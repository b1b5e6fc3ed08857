package inbox

import "time"

// Replay queues a delivered, failed or gone entry again with a fresh
// attempt budget, due now; its next attempt has a new number. An entry
// with an order key joins the end of its key's line.
func (in *Inbox) Replay(id string) (*Entry, error) {
	d, err := in.s.Replay(id)
	if err != nil {
		return nil, err
	}
	return &Entry{Delivery: d}, nil
}

// ReplayAll queues again, like Replay, every entry in state (delivered,
// failed or gone) that became so at or after from and before to (a zero
// from or to leaves that end open), and returns them oldest first: for
// example every dead letter of an outage.
func (in *Inbox) ReplayAll(state State, from, to time.Time) ([]*Entry, error) {
	ds, err := in.s.ReplayAll(state, from, to)
	return toEntries(ds), err
}
