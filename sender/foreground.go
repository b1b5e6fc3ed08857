package sender

import (
	"context"
	"errors"
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
		d.apply(a, time.Now())
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

// interrupted reports whether res is an attempt cut short by ctx ending:
// no answer (no status) and a cancellation error. An attempt that got an
// answer is decided by the answer, whatever ctx says.
func interrupted(ctx context.Context, res *Result) bool {
	return res.Status == 0 && ctx.Err() != nil && errors.Is(res.Err, context.Canceled)
}

// attemptFrom turns a Result into an attempt log entry (without outcome).
func attemptFrom(res *Result, n int) Attempt {
	a := Attempt{
		N:          n,
		Start:      res.Start,
		Latency:    res.Latency,
		Status:     res.Status,
		Response:   string(res.Response),
		Truncated:  res.Truncated,
		RetryAfter: res.RetryAfter,
	}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	return a
}

// apply records attempt a's outcome in d.
func (d *Delivery) apply(a Attempt, now time.Time) {
	d.LastStatus = a.Status
	d.LastError = a.Error
	d.UpdatedAt = now
	d.LogCount++
	switch a.Outcome {
	case OutcomeDelivered:
		d.State, d.NextAttempt = StateDelivered, time.Time{}
	case OutcomeGone:
		d.State, d.NextAttempt = StateGone, time.Time{}
	case OutcomeFailed:
		d.State, d.NextAttempt = StateFailed, time.Time{}
	case OutcomeRetry:
		d.State, d.NextAttempt = StatePending, now.Add(a.NextWait)
	case OutcomeInterrupted:
		d.State, d.NextAttempt = StatePending, now
	}
}
