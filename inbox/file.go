package inbox

import (
	"time"

	"github.com/scgate/scgate/sender"
)

// File is an inbox file opened by a tool (`scgate inbox`) while no gateway
// holds it, to list, show, replay and retry its entries; it delivers
// nothing. A replayed or retried entry is delivered by the next gateway
// that runs on the file.
type File struct {
	entries
}

// OpenFile opens the existing inbox file at path, for reading only unless
// write: then nothing in the file changes, and other readers may hold it
// at the same time. It fails with ErrStoreLocked (at once) when a gateway
// holds the file: ask that gateway (its admin API) instead.
func OpenFile(path string, write bool) (*File, error) {
	ob, err := sender.OpenOutbox(path, sender.OutboxOptions{LockTimeout: 100 * time.Millisecond, ReadOnly: !write})
	if err != nil {
		return nil, err
	}
	return &File{entries{ob}}, nil
}

// Replay queues a delivered, failed or gone entry again, as Inbox.Replay
// does. It needs a File opened for writing.
func (f *File) Replay(id string) (*Entry, error) {
	return toEntry(f.ob.Replay(id, time.Now()))
}

// ReplayAll queues again every entry in state that became so in [from,
// to), as Inbox.ReplayAll does. It needs a File opened for writing.
func (f *File) ReplayAll(state State, from, to time.Time) ([]*Entry, error) {
	if err := replayableState(state); err != nil {
		return nil, err
	}
	ds, err := f.ob.ReplayAll(state, from, to, time.Now())
	return toEntries(ds), entryErr(err)
}

// DeliverNow makes a pending entry due now, as Inbox.DeliverNow does: the
// next gateway on the file attempts it first. It needs a File opened for
// writing.
func (f *File) DeliverNow(id string) (*Entry, error) {
	return toEntry(f.ob.DueNow(id, time.Now()))
}

// DeliverAllNow makes every pending entry waiting for a retry due now, as
// Inbox.DeliverAllNow does. It needs a File opened for writing.
func (f *File) DeliverAllNow() ([]*Entry, error) {
	ds, err := f.ob.DueAllNow(time.Now())
	return toEntries(ds), err
}

// Close closes the file.
func (f *File) Close() error { return f.ob.Close() }
