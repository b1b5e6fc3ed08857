package sender

import (
	"strings"
	"sync"
	"testing"
)

// Concurrent changes are committed in groups; one that fails is reported
// to its caller alone, and the others of its group are still stored.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	ob, _ := openTestOutbox(t, OutboxOptions{})
	dup := newTestDelivery(t, "http://127.0.0.1:9/")
	if err := ob.Enqueue(dup); err != nil {
		t.Fatal(err)
	}
	const fresh, dups = 40, 10
	errs := make([]error, fresh+dups)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			d := dup
			if i < fresh {
				d = newTestDelivery(t, "http://127.0.0.1:9/")
			}
			errs[i] = ob.Enqueue(d)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if i < fresh && err != nil {
			t.Errorf("fresh enqueue %d: %v", i, err)
		}
		if i >= fresh && (err == nil || !strings.Contains(err.Error(), "id exists")) {
			t.Errorf("duplicate enqueue %d: %v, want id exists", i, err)
		}
	}
	if c, err := ob.Count(); err != nil || c[StatePending] != fresh+1 {
		t.Fatalf("Count = %v, %v; want %d pending", c, err, fresh+1)
	}
}
