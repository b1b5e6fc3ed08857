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
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
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
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Stop wraps an error that ends a wait at once.
func Stop(err error) error { return stop{err} }

type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }
