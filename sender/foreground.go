package sender

import (
	"context"
	"time"
)

// Deliver runs every attempt of d in the calling goroutine, without an
// outbox, sleeping between attempts: the foreground mode of `scgate send`.
// onAttempt, if set, is called after each attempt. It returns the final
// state; ctx ending stops it early with ctx's error and the state pending.
func Deliver(ctx context.Context, c *Client, s Schedule, d *Delivery, onAttempt func(*Delivery, Attempt)) (State, error) {
	for {
		d.Attempts++
		res := c.Do(ctx, d, d.Attempts)
		if interrupted(ctx, res) {
			return StatePending, ctx.Err()
		}
		a := attemptFrom(res, d.Attempts)
		a.Outcome, a.NextWait = s.decide(res, d.Attempts, d.MaxAttempts)
		d.Apply(a, time.Now())
		if onAttempt != nil {
			onAttempt(d, a)
		}
		if a.Outcome != OutcomeRetry {
			return d.State, nil
		}
		if ctx.Err() != nil {
			return StatePending, ctx.Err()
		}
		t := time.NewTimer(a.NextWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return StatePending, ctx.Err()
		case <-t.C:
		}
	}
}
