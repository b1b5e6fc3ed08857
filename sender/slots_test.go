package sender

import "testing"

func TestSlots(t *testing.T) {
	var l limits
	l.set(3, 2)
	sl := newSlots(&l)
	steps := []struct {
		op       string // take or release
		endpoint string
		room     int
		roomA    int
		roomB    int
		freed    bool
	}{
		{"take", "a", 2, 1, 2, false},
		{"take", "a", 1, 0, 2, false},
		{"take", "b", 0, 0, 1, false},
		{"release", "a", 1, 1, 1, true},
		{"release", "b", 2, 1, 2, true},
		{"release", "a", 3, 2, 2, true},
	}
	for i, st := range steps {
		if st.op == "take" {
			sl.take(st.endpoint)
		} else {
			sl.release(st.endpoint)
		}
		if sl.room() != st.room || sl.roomFor("a") != st.roomA || sl.roomFor("b") != st.roomB {
			t.Errorf("step %d (%s %s): room %d, a %d, b %d; want %d, %d, %d", i, st.op, st.endpoint,
				sl.room(), sl.roomFor("a"), sl.roomFor("b"), st.room, st.roomA, st.roomB)
		}
		select {
		case <-sl.freed:
			if !st.freed {
				t.Errorf("step %d: freed signalled", i)
			}
		default:
			if st.freed {
				t.Errorf("step %d: freed not signalled", i)
			}
		}
	}
	if len(sl.byEndpoint) != 0 {
		t.Errorf("endpoints left after every release: %v", sl.byEndpoint)
	}
	// New limits apply to the room at once; a lower one than the
	// attempts in flight leaves no room until they end.
	sl.take("a")
	sl.take("a")
	l.set(1, 1)
	if sl.room() != -1 || sl.roomFor("a") != -1 || sl.roomFor("b") != 1 {
		t.Errorf("after lowering to 1/1 with 2 in flight: room %d, a %d, b %d; want -1, -1, 1", sl.room(), sl.roomFor("a"), sl.roomFor("b"))
	}
	l.set(0, 0)
	if sl.room() != DefaultWorkers-2 || sl.roomFor("b") != DefaultPerEndpoint {
		t.Errorf("after 0/0 (defaults): room %d, b %d", sl.room(), sl.roomFor("b"))
	}
}
