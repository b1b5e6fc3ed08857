// Package testclock is the clock tests give to code with an injectable
// clock (the memory dedupe store, the sender): time moves only when the
// test says, so a test of expiry never sleeps.
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock at a fixed instant.
func New() *Clock { return At(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) }

// At returns a clock at t.
func At(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass it where a func() time.Time is taken.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
