// Package flow is the receiver's path from a checked event to its settled
// claim, in plain Go: claim the event's dedupe key, hand the event to a
// deliverer, and settle the claim by the deliverer's result (commit when it
// accepted the event, release otherwise). Every request it decides on ends
// in an Outcome, which the caller reports to its one outcome hook.
//
// The deliverer is the caller's: today the Caddy glue forwards to the next
// handler; an inbox writes the event durably instead. Whatever it is, the
// rules here hold: nothing is committed that was not accepted, and a
// store that cannot take a claim answers as on_error says.
package flow

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/gateway"
)

// Flow claims and settles the events of one endpoint. It is safe for
// concurrent use once built.
type Flow struct {
	// Store is the dedupe store; nil turns dedupe off (every event is
	// delivered, nothing is settled).
	Store dedupe.Store
	// Keyer makes each event's key.
	Keyer *gateway.Keyer
	// InflightTimeout is how long a claim blocks copies before it lapses.
	InflightTimeout time.Duration
	// TTL is how long a committed key answers copies as duplicates.
	TTL time.Duration
	// OnErrorOpen delivers an event without dedupe when the store cannot
	// take its claim (on_error open); otherwise such an event is refused
	// as unavailable, so its sender retries.
	OnErrorOpen bool
	// Logger gets the lines about the store (a lost claim, a deferred or
	// failed commit or release).
	Logger *zap.Logger
	// Observe, if set, is told how long each store operation took
	// ("claim", "commit", "release") and the error of a failed one.
	Observe func(op string, took time.Duration, err error)
}

// ClaimState says what a delivered event holds in the store.
type ClaimState uint8

const (
	// Held: the key is claimed; the deliverer's result commits or
	// releases it.
	Held ClaimState = iota
	// Off: the endpoint has no store.
	Off
	// FailOpen: the store failed and on_error is open: nothing to settle.
	FailOpen
)

// Claim is what an event being delivered holds in the store.
type Claim struct {
	State ClaimState
	// Key is the event's dedupe key (zero when dedupe is off).
	Key   gateway.Key
	token dedupe.Token
	// Lapses is when a held claim stops blocking copies: a delivery
	// must end by then.
	Lapses time.Time
	// Err is the store's error of a FailOpen claim.
	Err error
}

// Claim claims ev's dedupe key. It returns the Outcome instead when the
// event must not be delivered now: a key template it does not fill, a
// duplicate, a copy in flight, or a store that cannot take it (unless
// OnErrorOpen). The call is detached from ctx's cancellation: a claim that
// landed but whose answer a hang-up lost would block retries until it
// lapses; the store bounds it with its own timeout.
func (f *Flow) Claim(ctx context.Context, ev gateway.Event) (Claim, *Outcome) {
	if f.Store == nil {
		return Claim{State: Off}, nil
	}
	key, rej := f.Keyer.Key(ev)
	if rej != nil {
		o := Refused(rej)
		return Claim{}, &o
	}
	start := time.Now()
	state, tok, err := f.Store.Claim(context.WithoutCancel(ctx), key.Store, f.InflightTimeout)
	f.observe("claim", start, err)
	switch {
	case errors.Is(err, dedupe.ErrFull):
		o := storeFull
		o.Key = key
		return Claim{}, &o
	case err != nil && f.OnErrorOpen:
		return Claim{State: FailOpen, Key: key, Err: err}, nil
	case err != nil:
		o := storeError
		o.Key, o.Err = key, err
		return Claim{}, &o
	}
	switch state {
	case dedupe.Done:
		o := duplicate
		o.Key = key
		return Claim{}, &o
	case dedupe.InFlight:
		o := inFlight
		o.Key, o.RetryAfter = key, f.inFlightRetryAfter()
		return Claim{}, &o
	}
	return Claim{State: Held, Key: key, token: tok, Lapses: start.Add(f.InflightTimeout)}, nil
}

// Result is what a deliverer did with an event: the status its receiver
// answered (0: none) and the error, if delivering failed.
type Result struct {
	Status int
	Err    error
	// Queued: the deliverer stored the event durably, to deliver it
	// later (the inbox), instead of handing it to its receiver; an
	// accepted result is then the outcome Queued, with this entry id.
	Queued     bool
	DeliveryID string
}

// Accepted reports whether the event was taken: a 2xx without error.
func (r Result) Accepted() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// Settle commits a held claim when res accepted the event and releases it
// otherwise, and returns the outcome: forwarded (queued for a queued
// result) or upstream_failed. The
// store calls are detached from any request: a client that hangs up after
// the upstream accepted must not undo the commit.
func (f *Flow) Settle(c Claim, res Result) Outcome {
	ok := res.Accepted()
	if c.State == Held {
		if ok {
			f.commit(c)
		} else {
			f.release(c)
		}
	}
	o := Outcome{Name: Forwarded, Key: c.Key, Status: res.Status, Err: res.Err}
	switch {
	case !ok:
		o.Name = UpstreamFailed
	case res.Queued:
		o.Name, o.DeliveryID = Queued, res.DeliveryID
	}
	if c.State == FailOpen {
		o.FailOpen = true
	}
	return o
}

func (f *Flow) commit(c Claim) {
	start := time.Now()
	err := f.Store.Commit(context.Background(), c.Key.Store, c.token, f.TTL)
	switch {
	case err == nil:
		f.observe("commit", start, nil)
	case errors.Is(err, dedupe.ErrClaimLost):
		f.observe("commit", start, nil)
		f.Logger.Warn("dedupe claim expired before the upstream answered; another copy may have been forwarded (raise inflight_timeout)",
			zap.String("dedupe_key", c.Key.Display()))
	case errors.Is(err, dedupe.ErrCommitPending):
		f.observe("commit", start, err)
		f.Logger.Warn("dedupe commit deferred; retried in the background until the store answers",
			zap.String("reason", "dedupe_commit_pending"), zap.String("dedupe_key", c.Key.Display()), zap.Error(err))
	default:
		f.observe("commit", start, err)
		f.Logger.Error("dedupe commit failed; a retry of this event may be forwarded again",
			zap.String("dedupe_key", c.Key.Display()), zap.Error(err))
	}
}

func (f *Flow) release(c Claim) {
	start := time.Now()
	err := f.Store.Release(context.Background(), c.Key.Store, c.token)
	if err != nil && !errors.Is(err, dedupe.ErrClaimLost) {
		f.observe("release", start, err)
		f.Logger.Error("dedupe release failed; retries wait for inflight_timeout",
			zap.String("dedupe_key", c.Key.Display()), zap.Error(err))
		return
	}
	f.observe("release", start, nil)
}

func (f *Flow) observe(op string, start time.Time, err error) {
	if f.Observe != nil {
		f.Observe(op, time.Since(start), err)
	}
}

// inFlightRetryAfter is the Retry-After of a copy that arrives while
// another is in flight: by then the first copy is settled or its claim
// lapsed.
func (f *Flow) inFlightRetryAfter() string {
	secs := int(math.Ceil(f.InflightTimeout.Seconds()))
	return strconv.Itoa(max(secs, 1))
}
