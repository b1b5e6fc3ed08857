package webhook

import (
	"errors"
	"io"
	"os"
	"time"
)

// ErrTooSlow is returned by a Pace's reader when the body fell behind the
// minimum rate.
var ErrTooSlow = errors.New("the body arrives slower than the minimum rate")

// Pace cuts off a body that arrives too slowly, through the read deadline
// of its connection (or stream): the body's n-th byte must have arrived
// Grace plus n/MinRate seconds after Start, and the whole body by End. A
// body that stops, or trickles slower than MinRate on average, is cut off
// after about Grace, not only at End, so it cannot keep a connection and
// its buffer for the whole body timeout.
type Pace struct {
	// Start is when reading began.
	Start time.Time
	// Grace is the allowance for the first bytes.
	Grace time.Duration
	// MinRate is the lowest average rate, in bytes per second; 0: only End
	// applies.
	MinRate int64
	// End is the deadline of the whole body; zero: none.
	End time.Time
	// SetReadDeadline sets the read deadline of what the body comes from
	// (http.ResponseController.SetReadDeadline).
	SetReadDeadline func(time.Time) error
}

// Reader returns r read under the pace. A read cut off by the minimum rate
// fails with ErrTooSlow; one cut off at End fails with the deadline's own
// error (os.ErrDeadlineExceeded). If the deadline cannot be set, r is read
// without one. Call Done once the body is read.
func (p Pace) Reader(r io.Reader) *PacedReader {
	return &PacedReader{r: r, pace: p}
}

// PacedReader is a body read under a Pace.
type PacedReader struct {
	r        io.Reader
	pace     Pace
	n        int64     // bytes read
	deadline time.Time // the deadline set, zero if none
	byRate   bool      // the deadline set is the minimum rate's, before End
	failed   bool      // setting the deadline failed: read without one
}

// next returns the deadline for the next byte and whether it comes from the
// minimum rate rather than End.
func (r *PacedReader) next() (time.Time, bool) {
	p := r.pace
	if p.MinRate <= 0 {
		return p.End, false
	}
	d := p.Start.Add(p.Grace + time.Duration(float64(r.n)/float64(p.MinRate)*float64(time.Second)))
	if !p.End.IsZero() && !d.Before(p.End) {
		return p.End, false
	}
	return d, true
}

func (r *PacedReader) Read(b []byte) (int, error) {
	if !r.failed && r.pace.SetReadDeadline != nil {
		if d, byRate := r.next(); !d.Equal(r.deadline) {
			if err := r.pace.SetReadDeadline(d); err != nil {
				r.failed = true
			} else {
				r.deadline, r.byRate = d, byRate
			}
		}
	}
	n, err := r.r.Read(b)
	r.n += int64(n)
	if err != nil && r.byRate && errors.Is(err, os.ErrDeadlineExceeded) {
		err = ErrTooSlow
	}
	return n, err
}

// Done lifts the read deadline the reader set, if any.
func (r *PacedReader) Done() {
	if !r.deadline.IsZero() {
		_ = r.pace.SetReadDeadline(time.Time{})
		r.deadline = time.Time{}
	}
}
