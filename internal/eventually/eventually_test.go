package eventually

import (
	"errors"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	calls := 0
	if err := Within(time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("Within = %v after %d calls, want nil after 3", err, calls)
	}
	want := errors.New("never")
	calls = 0
	if err := Within(20*time.Millisecond, func() error { calls++; return want }); err != want || calls < 2 {
		t.Fatalf("Within = %v after %d calls, want the last error after several", err, calls)
	}
	calls = 0
	if err := Within(0, func() error { calls++; return nil }); err != nil || calls != 1 {
		t.Fatalf("Within(0) = %v after %d calls, want one call", err, calls)
	}
	calls = 0
	if err := Within(time.Minute, func() error { calls++; return Stop(want) }); err != want || calls != 1 {
		t.Fatalf("Within with Stop = %v after %d calls, want the error at once", err, calls)
	}
}

func TestDuring(t *testing.T) {
	calls := 0
	if err := During(20*time.Millisecond, time.Millisecond, func() error { calls++; return nil }); err != nil || calls < 2 {
		t.Fatalf("During = %v after %d calls, want nil after several", err, calls)
	}
	want := errors.New("changed")
	calls = 0
	if err := During(time.Minute, time.Millisecond, func() error {
		calls++
		if calls == 3 {
			return want
		}
		return nil
	}); err != want || calls != 3 {
		t.Fatalf("During = %v after %d calls, want the first error at the third", err, calls)
	}
}
