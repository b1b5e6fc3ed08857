package jetstream

import (
	"testing"
	"time"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/inboxbench"
	"github.com/scgate/scgate/internal/natstest"
)

// BenchmarkEnqueue measures events queued per second on a private
// nats-server -js (file store, on this machine) from 16 goroutines, each
// waiting for its publish ack; nothing is delivered meanwhile. Run it
// with the bolt inbox's BenchmarkEnqueue for the comparison:
// go test -run '^$' -bench Enqueue ./inbox/ ./inbox/jetstream/
func BenchmarkEnqueue(b *testing.B) {
	srv := natstest.Start(b)
	e := open(b, srv.URL(), inbox.Settings{Destination: "http://127.0.0.1:9/"}, func(o *Options) { o.EnqueueTimeout = 10 * time.Second })
	ev := event(1)
	ev.DedupeKey = "" // every publish is new: deduplicated on its id
	inboxbench.Enqueue(b, func() error {
		_, err := e.Enqueue(ev)
		return err
	})
}
