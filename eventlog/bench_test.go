package eventlog

import (
	"testing"
	"time"
)

// benchEntry is what the receiver records for a forwarded event.
var benchEntry = Entry{
	Time: time.Now(), Endpoint: "default", Scheme: "screenshotcenter", Outcome: "forwarded",
	Event: "screenshot.finished", ScreenshotID: "sc_000000001_000000001",
	DedupeKey: `"screenshot.finished" screenshot_id "sc_000000001_000000001"`,
	Status:    200, UpstreamStatus: 200, UpstreamLatency: 3 * time.Millisecond, RemoteAddr: "127.0.0.1:54321",
}

// BenchmarkRecord is Record from parallel writers into a full default-size
// ring: the cost the event log adds to each answered request.
func BenchmarkRecord(b *testing.B) {
	l := New(DefaultSize)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(benchEntry)
		}
	})
}

// BenchmarkRecordFollowed is BenchmarkRecord with one follower of a query
// that matches every entry, reading as fast as it can.
func BenchmarkRecordFollowed(b *testing.B) {
	l := New(DefaultSize)
	_, s := l.Follow(Query{Outcome: "forwarded"}, 0)
	done := make(chan struct{})
	go func() {
		for range s.C() {
		}
		close(done)
	}()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record(benchEntry)
		}
	})
	b.StopTimer()
	s.Close()
	<-done
}
