package inbox

import (
	"path/filepath"
	"testing"

	"github.com/scgate/scgate/internal/inboxbench"
)

// BenchmarkEnqueue measures events queued per second with fsync: 16
// goroutines enqueue at once, group-committed (batch) or one transaction
// each (nobatch); nothing is delivered meanwhile. Compare with the
// sender's BenchmarkOutboxEnqueue (the same outbox without headers).
func BenchmarkEnqueue(b *testing.B) {
	for _, mode := range []struct {
		name    string
		noBatch bool
	}{{"batch", false}, {"nobatch", true}} {
		b.Run(mode.name, func(b *testing.B) {
			in, err := Open(filepath.Join(b.TempDir(), "inbox.db"), Options{NoBatch: mode.noBatch, Settings: Settings{Destination: "http://127.0.0.1:9/"}})
			if err != nil {
				b.Fatal(err)
			}
			defer in.Close()
			ev := event(1, "")
			inboxbench.Enqueue(b, func() error {
				_, err := in.Enqueue(ev)
				return err
			})
		})
	}
}
