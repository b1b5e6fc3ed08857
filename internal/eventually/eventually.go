// Package eventually is the one way tests wait for something that happens
// in another goroutine or process: poll a condition until it holds or a
// deadline passes, then fail with the condition's last error. No test writes
// its own deadline loop.
package eventually

import (
	"errors"
	"testing"
	"time"
)

// Succeeds calls cond until it returns nil and fails t (with cond's last
// error) if that does not happen within timeout.
func Succeeds(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Within(timeout, cond); err != nil {
		t.Fatalf("not within %s: %v", timeout, err)
	}
}

// Within calls cond until it returns nil or timeout passes, and returns its
// last error: for helpers that have no testing.TB or report themselves.
// cond runs at least once; polls start at 1ms and back off to 50ms. A cond
// that knows waiting is pointless (a process exited, a wrong answer came)
// returns Stop(err) to end the wait at once with err.
func Within(timeout time.Duration, cond func() error) error {
	return within(timeout, time.Millisecond, 50*time.Millisecond, cond)
}

// SucceedsEvery is Succeeds polling at a fixed interval, with no back-off:
// for a test that measures when cond started to hold.
func SucceedsEvery(t testing.TB, timeout, every time.Duration, cond func() error) {
	t.Helper()
	if err := within(timeout, every, every, cond); err != nil {
		t.Fatalf("not within %s: %v", timeout, err)
	}
}

// Holds calls cond every interval for d and fails t at the first error:
// for a state that must not change meanwhile (a count that must stay put).
func Holds(t testing.TB, d, every time.Duration, cond func() error) {
	t.Helper()
	if err := During(d, every, cond); err != nil {
		t.Fatalf("stopped holding within %s: %v", d, err)
	}
}

// During calls cond every interval for d (at least once) and returns its
// first error, or nil if it held all along.
func During(d, every time.Duration, cond func() error) error {
	for end := time.Now().Add(d); ; time.Sleep(every) {
		if err := cond(); err != nil {
			return err
		}
		if !time.Now().Before(end) {
			return nil
		}
	}
}

func within(timeout, pause, maxPause time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		var s stop
		if errors.As(err, &s) {
			return s.err
		}
		if err == nil || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(min(pause, time.Until(deadline)))
		pause = min(2*pause, maxPause)
	}
}

// Stop wraps an error that ends a wait at once.
func Stop(err error) error { return stop{err} }

type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }
