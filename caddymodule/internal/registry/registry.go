// Package registry is the process's list of what the dashboard shows: the
// event logs the receivers record into, and the delivery stores (the
// sender's outboxes, the inboxes) that the running configs hold open.
//
// A store or log registers when it is created (a pooled outbox in its
// usage pool's constructor) and unregisters with the func Add returns when
// it is destroyed (the pool's Destruct), so that a reload, which keeps the
// pooled value, neither doubles nor drops it. Readers (the dashboard)
// import only this package, not the handlers.
//
// A store registers as a Queue, what the dashboard reads and requeues: an
// outbox's *sender.Sender is one, an inbox's engine (bbolt or JetStream)
// is one through Inbox:
//
//	remove := registry.AddStore(registry.KindInbox, name, func() registry.Queue { return registry.Inbox(p.get()) })
//	defer remove() // in the pooled inbox's Destruct
//
// and the process's event log with registry.AddEventLog("webhook", log).
package registry

import (
	"slices"
	"strings"
	"sync"

	"github.com/scgate/scgate/eventlog"
)

// Kind says what a store is.
type Kind string

// Store kinds.
const (
	// KindOutbox is a screenshotcenter_sender outbox: signed events this
	// gateway delivers to endpoints.
	KindOutbox Kind = "outbox"
	// KindInbox is a receiver's inbox: verified events stored and
	// forwarded to the application.
	KindInbox Kind = "inbox"
)

// Store is one registered delivery store.
type Store struct {
	// Kind is what the store is.
	Kind Kind
	// Path names the store as the admin API does: its file, or for an
	// inbox on NATS JetStream nats://host:port/STREAM (never credentials).
	Path string
	// Open returns the store's queue, or nil while the store is not open
	// (locked by another process, still opening, its server unreachable).
	Open func() Queue
}

// EventLog is one registered event log.
type EventLog struct {
	// Name names the log on the dashboard.
	Name string
	// Log is the ring.
	Log *eventlog.Log
}

var (
	mu     sync.Mutex
	stores []*Store
	logs   []*EventLog
)

// AddStore registers a store and returns the func that unregisters it
// (safe to call more than once).
func AddStore(kind Kind, path string, open func() Queue) (remove func()) {
	s := &Store{Kind: kind, Path: path, Open: open}
	mu.Lock()
	defer mu.Unlock()
	stores = append(stores, s)
	return func() { drop(&stores, s) }
}

// AddEventLog registers an event log and returns the func that
// unregisters it (safe to call more than once).
func AddEventLog(name string, l *eventlog.Log) (remove func()) {
	e := &EventLog{Name: name, Log: l}
	mu.Lock()
	defer mu.Unlock()
	logs = append(logs, e)
	return func() { drop(&logs, e) }
}

func drop[T any](list *[]*T, x *T) {
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(*list, x); i >= 0 {
		*list = slices.Delete(*list, i, i+1)
	}
}

// Stores returns the registered stores, inboxes first, each kind by path.
func Stores() []Store {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Store, len(stores))
	for i, s := range stores {
		out[i] = *s
	}
	slices.SortFunc(out, func(a, b Store) int {
		if a.Kind != b.Kind {
			return strings.Compare(string(a.Kind), string(b.Kind)) // "inbox" < "outbox"
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out
}

// EventLogs returns the registered event logs by name.
func EventLogs() []EventLog {
	mu.Lock()
	defer mu.Unlock()
	out := make([]EventLog, len(logs))
	for i, l := range logs {
		out[i] = *l
	}
	slices.SortFunc(out, func(a, b EventLog) int { return strings.Compare(a.Name, b.Name) })
	return out
}
