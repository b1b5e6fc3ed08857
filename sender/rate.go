package sender

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer is the Rate ceiling on the attempts a sender starts: a token
// bucket of Burst tokens, refilled at Rate per second, read on the
// sender's clock (Options.Now) so that tests move time instead of waiting.
// Each attempt takes a token, a retry as well as a first attempt: the
// ceiling bounds what the endpoint receives.
type pacer struct {
	mu  sync.Mutex
	lim *rate.Limiter // nil: no ceiling
}

// burstFor returns the default burst of perSecond: a twentieth of a
// second's worth, at least 1. A burst of 1 would cost one lease
// transaction (an fsync) per attempt at high rates; this one keeps any
// second within Rate plus Burst attempts.
func burstFor(perSecond float64) int {
	return max(1, int(perSecond/20))
}

// set applies the ceiling at now: perSecond <= 0 removes it; burst <= 0
// is burstFor(perSecond).
func (p *pacer) set(perSecond float64, burst int, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		p.lim = nil
		return
	}
	if burst <= 0 {
		burst = burstFor(perSecond)
	}
	if p.lim == nil {
		p.lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		return
	}
	p.lim.SetLimitAt(now, rate.Limit(perSecond))
	p.lim.SetBurstAt(now, burst)
}

// allow returns how many of want attempts may start at now, and, when it
// is fewer than want, when the next token comes (zero without a ceiling).
func (p *pacer) allow(now time.Time, want int) (n int, next time.Time) {
	p.mu.Lock()
	lim := p.lim
	p.mu.Unlock()
	if lim == nil {
		return want, time.Time{}
	}
	tokens := lim.TokensAt(now)
	n = min(want, max(int(tokens), 0))
	if n < want {
		frac := tokens - float64(n) // tokens left after taking n
		wait := time.Duration(math.Ceil((1 - frac) / float64(lim.Limit()) * float64(time.Second)))
		next = now.Add(max(wait, time.Millisecond))
	}
	return n, next
}

// take spends n tokens at now.
func (p *pacer) take(now time.Time, n int) {
	p.mu.Lock()
	lim := p.lim
	p.mu.Unlock()
	if lim != nil && n > 0 {
		lim.AllowN(now, n)
	}
}
