package inbox

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
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
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			const producers = 16
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := p; i < b.N; i += producers {
						if _, err := in.Enqueue(ev); err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
