package inbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/scgate/scgate/sender"
)

// Replay queues a delivered, failed or gone entry again with a fresh
// attempt budget, due now; its next attempt has a new number. An entry
// with an order key joins the end of its key's line. A pending entry
// fails with ErrNotReplayable: DeliverNow makes it due now.
func (in *Inbox) Replay(id string) (*Entry, error) {
	d, err := in.s.Replay(id)
	return toEntry(d, err)
}

// ReplayAll queues again, like Replay, every entry in state (delivered,
// failed or gone) that became so at or after from and before to (a zero
// from or to leaves that end open), and returns them oldest first: for
// example every dead letter of an outage.
func (in *Inbox) ReplayAll(state State, from, to time.Time) ([]*Entry, error) {
	if err := replayableState(state); err != nil {
		return nil, err
	}
	ds, err := in.s.ReplayAll(state, from, to)
	return toEntries(ds), entryErr(err)
}

// DeliverNow makes the pending entry id, waiting for a retry, due now:
// once the application is back from an outage, rather than wait up to the
// last backoff delay. No copy is made and the attempt budget goes on (the
// next attempt has the next number); concurrency and rate bound it as
// every attempt. An entry in an attempt or due already is returned as it
// is; one waiting behind an earlier entry of its order key fails with
// ErrHeldBack (it stays behind it); a delivered, failed or gone one with
// ErrNotPending (replay it).
func (in *Inbox) DeliverNow(id string) (*Entry, error) {
	d, err := in.s.DeliverNow(id)
	return toEntry(d, err)
}

// DeliverAllNow makes, like DeliverNow, every pending entry waiting for a
// retry due now, and returns them oldest first; entries held back by
// their order key stay behind the first of their key.
func (in *Inbox) DeliverAllNow() ([]*Entry, error) {
	ds, err := in.s.DeliverAllNow()
	return toEntries(ds), err
}

// replayableState refuses a bulk replay of pending entries.
func replayableState(state State) error {
	if state == StatePending {
		return fmt.Errorf("%w (not pending: retry pending entries to deliver them now)", ErrNotReplayable)
	}
	return nil
}

// toEntry returns d as an entry, or err worded for entries.
func toEntry(d *sender.Delivery, err error) (*Entry, error) {
	if err != nil {
		return nil, entryErr(err)
	}
	return &Entry{Delivery: d}, nil
}

// entryErr words the sender's refusal of an action for a delivery's state
// as one about an inbox entry, saying what to do instead.
func entryErr(err error) error {
	var se *sender.StateError
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(se.Err, sender.ErrNotReplayable):
		return fmt.Errorf("%w (entry %s is %s: retry it to deliver it now)", ErrNotReplayable, se.ID, se.State)
	case errors.Is(se.Err, sender.ErrNotPending):
		return fmt.Errorf("%w (entry %s is %s: replay it instead)", ErrNotPending, se.ID, se.State)
	case errors.Is(se.Err, sender.ErrHeldBack):
		return fmt.Errorf("%w (entry %s)", ErrHeldBack, se.ID)
	}
	return err
}
