// Package inboxbench is the enqueue benchmark loop shared by the inbox
// engines, so that their figures come from the same measurement.
package inboxbench

import (
	"sync"
	"testing"
	"time"
)

// Producers is how many goroutines enqueue at once.
const Producers = 16

// Enqueue calls enqueue b.N times from Producers goroutines and reports
// events/s.
func Enqueue(b *testing.B, enqueue func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range Producers {
		wg.Go(func() {
			for i := p; i < b.N; i += Producers {
				if err := enqueue(); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
