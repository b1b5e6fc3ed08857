package sender

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkOutboxDeliveries measures end-to-end deliveries per second to a
// local endpoint through the durable outbox: enqueue (fsync'd), lease,
// signed POST, record. 16 goroutines enqueue concurrently, 16 workers send.
func BenchmarkOutboxDeliveries(b *testing.B) {
	for _, mode := range []struct {
		name    string
		noBatch bool
	}{{"batch", false}, {"nobatch", true}} {
		b.Run(mode.name, func(b *testing.B) {
			rc := newReceiver(b, nil)
			ob, _ := openTestOutbox(b, OutboxOptions{NoBatch: mode.noBatch})
			var delivered sync.WaitGroup
			delivered.Add(b.N)
			s, final := runSender(b, ob, Options{Workers: 16, PerEndpoint: 16})
			go func() {
				for range final {
					delivered.Done()
				}
			}()
			body := []byte(sampleBody)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			const producers = 16
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func(p int) {
					defer wg.Done()
					for i := p; i < b.N; i += producers {
						d, err := NewDelivery(rc.URL, "screenshot.finished", body, testSecret, time.Now())
						if err == nil {
							err = s.Enqueue(d)
						}
						if err != nil {
							b.Error(err)
							delivered.Done()
						}
					}
				}(p)
			}
			wg.Wait()
			delivered.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkOutboxEnqueue measures deliveries stored per second with
// fsync: 16 goroutines enqueue at once, group-committed (batch) or one
// transaction each (nobatch); nothing is sent meanwhile.
func BenchmarkOutboxEnqueue(b *testing.B) {
	for _, mode := range []struct {
		name    string
		noBatch bool
	}{{"batch", false}, {"nobatch", true}} {
		b.Run(mode.name, func(b *testing.B) {
			ob, _ := openTestOutbox(b, OutboxOptions{NoBatch: mode.noBatch})
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			const producers = 16
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := p; i < b.N; i += producers {
						d, err := NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(sampleBody), testSecret, time.Now())
						if err == nil {
							err = ob.Enqueue(d)
						}
						if err != nil {
							b.Error(err)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPendingFootprint measures what a pending delivery costs: Go heap
// of a running sender holding 10000 pending deliveries that are not yet
// due, and outbox file bytes, per delivery. It measures once, whatever b.N
// is (run it with -benchtime=1x).
func BenchmarkPendingFootprint(b *testing.B) {
	const n = 10000
	for i := 0; i < 1; i++ {
		ob, path := openTestOutbox(b, OutboxOptions{})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, _ := runSender(b, ob, Options{})
		later := time.Now().Add(time.Hour)
		batch := make([]*Delivery, 0, 500)
		for j := 0; j < n; j++ {
			d, err := NewDelivery("http://127.0.0.1:9/", "screenshot.finished", []byte(sampleBody), testSecret, later)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, d)
			if len(batch) == cap(batch) {
				if err := s.Enqueue(batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		batch = nil
		time.Sleep(50 * time.Millisecond) // let the dispatcher look once
		runtime.GC()
		runtime.ReadMemStats(&after)
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		heap := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		b.ReportMetric(heap, "heap-B/pending")
		b.ReportMetric(float64(st.Size())/n, "file-B/pending")
		b.ReportMetric(float64(len(sampleBody)), "body-B")
	}
}
