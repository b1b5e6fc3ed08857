package eventlog

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/scgate/scgate/internal/testclock"
)

func seqs(es []Entry) string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, e.Seq)
	}
	return b.String()
}

func recordN(l *Log, n int, e Entry) {
	for range n {
		l.Record(e)
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	l := New(3)
	for i := range 5 {
		l.Record(Entry{Outcome: "forwarded", ScreenshotID: fmt.Sprint("sc_", i+1)})
	}
	got := l.Find(Query{})
	if seqs(got) != "5,4,3" {
		t.Fatalf("Find = %s, want 5,4,3 (newest first)", seqs(got))
	}
	if got[0].ScreenshotID != "sc_5" || got[2].ScreenshotID != "sc_3" {
		t.Errorf("entries %q, %q: not the ones recorded with those seqs", got[0].ScreenshotID, got[2].ScreenshotID)
	}
	if n := l.Recorded(); n != 5 {
		t.Errorf("Recorded = %d, want 5", n)
	}
	if got := l.Find(Query{Limit: 2}); seqs(got) != "5,4" {
		t.Errorf("Limit 2: %s, want 5,4", seqs(got))
	}
}

func TestZeroSizeRecordsNothing(t *testing.T) {
	var l Log
	l.Record(Entry{Outcome: "forwarded"})
	if got := l.Find(Query{}); len(got) != 0 || l.Recorded() != 0 {
		t.Fatalf("a log without room holds %d entries, recorded %d", len(got), l.Recorded())
	}
}

func TestSetSizeKeepsTheNewest(t *testing.T) {
	l := New(4)
	recordN(l, 6, Entry{Outcome: "x"}) // holds 3..6
	l.SetSize(2)
	if got := l.Find(Query{}); seqs(got) != "6,5" {
		t.Fatalf("shrunk to 2: %s, want 6,5", seqs(got))
	}
	l.SetSize(5)
	if got := l.Find(Query{}); seqs(got) != "6,5" {
		t.Fatalf("grown to 5: %s, want 6,5 (nothing made up)", seqs(got))
	}
	recordN(l, 4, Entry{Outcome: "x"})
	if got := l.Find(Query{}); seqs(got) != "10,9,8,7,6" {
		t.Fatalf("after 4 more: %s, want 10,9,8,7,6", seqs(got))
	}
	for _, e := range l.Find(Query{}) {
		if e.Outcome != "x" {
			t.Errorf("entry %d has outcome %q: an empty slot was returned", e.Seq, e.Outcome)
		}
	}
	l.SetSize(0)
	l.Record(Entry{Outcome: "x"})
	if got := l.Find(Query{}); len(got) != 0 {
		t.Errorf("size 0 holds %s", seqs(got))
	}
}

func TestFindFilters(t *testing.T) {
	clock := testclock.New()
	l := New(100)
	l.SetClock(clock.Now)
	start := clock.Now()
	l.Record(Entry{Endpoint: "a", Outcome: "forwarded", Event: "screenshot.finished", ScreenshotID: "sc_1", Status: 200})                 // 1
	l.Record(Entry{Endpoint: "a", Outcome: "duplicate", Event: "screenshot.finished", ScreenshotID: "sc_1", Status: 200})                 // 2
	l.Record(Entry{Endpoint: "b", Outcome: "rejected", Reason: "signature_mismatch", Status: 401})                                        // 3
	clock.Set(start.Add(time.Minute))                                                                                                     //
	l.Record(Entry{Endpoint: "b", Outcome: "forwarded", Event: "batch.finished", BatchID: "batch_7", Status: 200})                        // 4
	l.Record(Entry{Endpoint: "a", Outcome: "rejected", Reason: "body_too_large", Status: 413})                                            // 5
	l.Record(Entry{Endpoint: "a", Outcome: "forwarded", Event: "screenshot.finished", ScreenshotID: "x", DeliveryID: "d_9", Status: 202}) // 6
	for _, c := range []struct {
		name string
		q    Query
		want string
	}{
		{"all", Query{}, "6,5,4,3,2,1"},
		{"outcome", Query{Outcome: "rejected"}, "5,3"},
		{"reason", Query{Reason: "signature_mismatch"}, "3"},
		{"event", Query{Event: "screenshot.finished"}, "6,2,1"},
		{"endpoint", Query{Endpoint: "b"}, "4,3"},
		{"screenshot id", Query{ID: "sc_1"}, "2,1"},
		{"batch id", Query{ID: "batch_7"}, "4"},
		{"delivery id", Query{ID: "d_9"}, "6"},
		{"id is exact", Query{ID: "sc_"}, ""},
		{"since", Query{Since: start.Add(time.Minute)}, "6,5,4"},
		{"after", Query{After: 4}, "6,5"},
		{"together", Query{Outcome: "forwarded", Event: "screenshot.finished"}, "6,1"},
		{"limit", Query{Outcome: "forwarded", Limit: 2}, "6,4"},
		{"no match", Query{Outcome: "in_flight"}, ""},
	} {
		if got := seqs(l.Find(c.q)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if got := l.Find(Query{ID: "d_9"}); got[0].Time != start.Add(time.Minute) {
		t.Errorf("Time = %v, want the clock's %v", got[0].Time, start.Add(time.Minute))
	}
}

func TestFollowGivesTheBacklogThenNewEntries(t *testing.T) {
	l := New(10)
	recordN(l, 3, Entry{Outcome: "forwarded"})
	l.Record(Entry{Outcome: "rejected"}) // 4
	backlog, s := l.Follow(Query{Outcome: "forwarded", Limit: 2}, 8)
	defer s.Close()
	if seqs(backlog) != "2,3" {
		t.Fatalf("backlog %s, want 2,3 (the newest two, oldest first)", seqs(backlog))
	}
	l.Record(Entry{Outcome: "rejected"})  // 5: not followed
	l.Record(Entry{Outcome: "forwarded"}) // 6
	it := <-s.C()
	if it.Entry.Seq != 6 || it.Missed != 0 {
		t.Fatalf("got entry %d (missed %d), want 6 (missed 0)", it.Entry.Seq, it.Missed)
	}
	select {
	case it := <-s.C():
		t.Fatalf("unexpected entry %d", it.Entry.Seq)
	default:
	}
}

// A follower that reads nothing never blocks Record: it misses what does
// not fit in its buffer and the next entry it gets says how many.
func TestSlowFollowerMissesEntriesAndIsTold(t *testing.T) {
	l := New(100)
	_, s := l.Follow(Query{Outcome: "forwarded"}, 2)
	defer s.Close()
	recordN(l, 5, Entry{Outcome: "forwarded"}) // 1, 2 fit; 3..5 missed
	l.Record(Entry{Outcome: "rejected"})       // 6: not followed, not missed
	for _, want := range []uint64{1, 2} {
		if it := <-s.C(); it.Entry.Seq != want || it.Missed != 0 {
			t.Fatalf("got %d (missed %d), want %d (missed 0)", it.Entry.Seq, it.Missed, want)
		}
	}
	l.Record(Entry{Outcome: "forwarded"}) // 7
	if it := <-s.C(); it.Entry.Seq != 7 || it.Missed != 3 {
		t.Fatalf("got %d (missed %d), want 7 (missed 3)", it.Entry.Seq, it.Missed)
	}
}

func TestCloseEndsTheSubscription(t *testing.T) {
	l := New(10)
	_, s := l.Follow(Query{}, 1)
	_, other := l.Follow(Query{}, 4)
	defer other.Close()
	s.Close()
	s.Close()
	l.Record(Entry{Outcome: "forwarded"})
	if _, open := <-s.C(); open {
		t.Fatal("C still open after Close")
	}
	if it := <-other.C(); it.Entry.Seq != 1 {
		t.Fatalf("the other follower got %d", it.Entry.Seq)
	}
}

func TestLongFieldsAreCut(t *testing.T) {
	l := New(1)
	long := strings.Repeat("é", MaxField) // 2 bytes each: a cut must not split one
	l.Record(Entry{ScreenshotID: long, DedupeKey: "k" + long, RemoteAddr: "127.0.0.1:1"})
	e := l.Find(Query{})[0]
	for name, v := range map[string]string{"screenshot_id": e.ScreenshotID, "dedupe_key": e.DedupeKey} {
		if len(v) > MaxField || !utf8.ValidString(v) || !strings.HasSuffix(v, "…") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v, %q at the end", name, len(v), utf8.ValidString(v), v[len(v)-4:])
		}
	}
	if e.RemoteAddr != "127.0.0.1:1" {
		t.Errorf("a short field changed: %q", e.RemoteAddr)
	}
}

// Writers, readers and followers at once, for the race detector: every
// entry gets its own seq and the ring holds the newest.
func TestConcurrentUse(t *testing.T) {
	const writers, each = 8, 500
	l := New(1000)
	_, s := l.Follow(Query{}, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for range s.C() {
		}
	})
	var writing sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for i := range each {
				l.Record(Entry{Outcome: "forwarded", ScreenshotID: fmt.Sprint(w, "_", i)})
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				l.Find(Query{Outcome: "forwarded", Limit: 10})
			}
		})
	}
	writing.Wait()
	s.Close()
	wg.Wait()
	if n := l.Recorded(); n != writers*each {
		t.Fatalf("Recorded = %d, want %d", n, writers*each)
	}
	got := l.Find(Query{})
	if len(got) != 1000 || got[0].Seq != writers*each || got[999].Seq != writers*each-999 {
		t.Fatalf("holds %d entries from %d to %d", len(got), got[len(got)-1].Seq, got[0].Seq)
	}
}
