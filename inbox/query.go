package inbox

import (
	"net/http"

	"github.com/scgate/scgate/sender"
)

// Entry is one queued event: its id, state, attempt counts and times (the
// fields of a sender.Delivery: URL is the destination when it was queued,
// Event its type), and, from Get, its body and the headers it is
// forwarded with.
type Entry struct {
	*sender.Delivery
}

// DedupeKey returns the event's dedupe key as sent, "" if none.
func (e *Entry) DedupeKey() string {
	if v := e.Headers[HeaderDedupeKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Header returns the original request's headers as forwarded (without the
// gateway's).
func (e *Entry) Header() http.Header {
	h := e.Headers.Clone()
	delete(h, HeaderDedupeKey)
	delete(h, HeaderReencoded)
	return h
}

func toEntries(ds []*sender.Delivery) []*Entry {
	out := make([]*Entry, len(ds))
	for i, d := range ds {
		out[i] = &Entry{Delivery: d}
	}
	return out
}

// entries reads the entries of an inbox file: what an Inbox and a File
// share.
type entries struct{ ob *sender.Outbox }

// Path returns the file's path.
func (r entries) Path() string { return r.ob.Path() }

// Get returns an entry, with its body and headers, and its attempt log.
func (r entries) Get(id string) (*Entry, []Attempt, error) {
	d, log, err := r.ob.Get(id)
	if err != nil {
		return nil, nil, err
	}
	return &Entry{Delivery: d}, log, nil
}

// List returns up to limit entries (all if limit <= 0) in state, oldest
// first, with their headers but without body: failed ones are the dead
// letters.
func (r entries) List(state State, limit int) ([]*Entry, error) {
	ds, err := r.ob.List(state, limit)
	return toEntries(ds), err
}

// Stats is what the metrics and the dashboard read: the entries by state
// and when the oldest pending one was queued (its age is the alert for
// "the application is down").
type Stats = sender.Stats

// Stats reads the entries by state and the oldest pending one. Counting
// reads one key per entry.
func (r entries) Stats() (Stats, error) { return r.ob.Stats() }
