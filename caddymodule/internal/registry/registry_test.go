package registry

import (
	"testing"

	"github.com/scgate/scgate/eventlog"
)

func TestAddAndRemove(t *testing.T) {
	none := func() Queue { return nil }
	rmB := AddStore(KindOutbox, "/b.db", none)
	rmA := AddStore(KindOutbox, "/a.db", none)
	rmIn := AddStore(KindInbox, "/z.db", none)
	rmLog := AddEventLog("webhook", eventlog.New(1))
	got := Stores()
	if len(got) != 3 || got[0].Path != "/z.db" || got[1].Path != "/a.db" || got[2].Path != "/b.db" {
		t.Fatalf("Stores = %+v, want the inbox, then the outboxes by path", got)
	}
	if l := EventLogs(); len(l) != 1 || l[0].Name != "webhook" {
		t.Fatalf("EventLogs = %+v", l)
	}
	rmA()
	rmA() // twice is harmless
	rmLog()
	if got := Stores(); len(got) != 2 || got[1].Path != "/b.db" {
		t.Fatalf("after removing /a.db: %+v", got)
	}
	if l := EventLogs(); len(l) != 0 {
		t.Fatalf("EventLogs after remove = %+v", l)
	}
	rmB()
	rmIn()
	if got := Stores(); len(got) != 0 {
		t.Fatalf("Stores after removing all = %+v", got)
	}
}

// An inbox engine that is not open is no queue: not a nil engine in a
// non-nil Queue, which the dashboard would call.
func TestInboxOfNoEngineIsNil(t *testing.T) {
	if q := Inbox(nil); q != nil {
		t.Fatalf("Inbox(nil) = %#v, want nil", q)
	}
}
