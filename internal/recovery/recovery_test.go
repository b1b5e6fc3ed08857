package recovery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A loop that panics is counted and run again; its error ends Loop.
func TestLoopRestartsAfterAPanic(t *testing.T) {
	restartAfter = time.Millisecond
	defer func() { restartAfter = time.Second }()
	before := testutil.ToFloat64(Panics.WithLabelValues("test.loop"))
	runs := 0
	errDone := errors.New("done")
	err := Loop(context.Background(), nil, "test.loop", func(context.Context) error {
		if runs++; runs < 3 {
			panic("bug")
		}
		return errDone
	})
	if !errors.Is(err, errDone) || runs != 3 {
		t.Fatalf("Loop = %v after %d runs, want errDone after 3", err, runs)
	}
	if got := testutil.ToFloat64(Panics.WithLabelValues("test.loop")) - before; got != 2 {
		t.Errorf("%v panics counted, want 2", got)
	}
}

// A loop that panics once its context has ended is not run again.
func TestLoopEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	err := Loop(ctx, nil, "test.loop", func(context.Context) error {
		runs++
		cancel()
		panic("bug")
	})
	if err != nil || runs != 1 {
		t.Fatalf("Loop = %v after %d runs, want nil after 1", err, runs)
	}
}
