package inbox

import (
	"context"
	"time"
)

// Engine is what the receiver's glue drives, whichever backend holds the
// queue: the bbolt Inbox (one file per gateway process) or a shared
// engine (package inbox/jetstream: every replica delivers from one
// queue). Every backend keeps the same contract:
//   - Enqueue returns an id only once the event is durable (bbolt: fsync'd;
//     JetStream: the stream's publish ack); on any error nothing is
//     acknowledged and the caller answers 503;
//   - Run delivers until ctx ends, with the request, headers, retries,
//     concurrency and rate of Settings, and returns once attempts in
//     flight finished or were let go;
//   - Get, List, Stats, Replay and ReplayAll read and requeue entries the
//     way the admin API and the CLI show them;
//   - DeliverNow and DeliverAllNow make pending entries waiting for a
//     retry due at once (after an outage of the application), keeping
//     their attempt budget, order and the bounds of Settings; a backend
//     that cannot returns ErrUnsupported;
//   - Reconfigure applies a config reload's settings to later attempts;
//   - Close releases the backend; stop Run first.
type Engine interface {
	Enqueue(ev Event) (string, error)
	Run(ctx context.Context) error
	Get(id string) (*Entry, []Attempt, error)
	List(state State, limit int) ([]*Entry, error)
	Stats() (Stats, error)
	Replay(id string) (*Entry, error)
	ReplayAll(state State, from, to time.Time) ([]*Entry, error)
	DeliverNow(id string) (*Entry, error)
	DeliverAllNow() ([]*Entry, error)
	Reconfigure(s Settings) error
	Close() error
}

// The bbolt inbox is an Engine.
var _ Engine = (*Inbox)(nil)
