package inbox

import (
	"time"

	"github.com/scgate/scgate/sender"
)

// File is an inbox file opened by a tool (`scgate inbox`) while no gateway
// holds it, to list, show and replay its entries; it delivers nothing. A
// replayed entry is delivered by the next gateway that runs on the file.
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
	d, err := f.ob.Replay(id, time.Now())
	if err != nil {
		return nil, err
	}
	return &Entry{Delivery: d}, nil
}

// ReplayAll queues again every entry in state that became so in [from,
// to), as Inbox.ReplayAll does. It needs a File opened for writing.
func (f *File) ReplayAll(state State, from, to time.Time) ([]*Entry, error) {
	ds, err := f.ob.ReplayAll(state, from, to, time.Now())
	return toEntries(ds), err
}

// Close closes the file.
func (f *File) Close() error { return f.ob.Close() }
