// Package dedupe remembers which webhook events were delivered, so that a
// sender's retries are forwarded once.
//
// A key goes through three operations: Claim (atomic set-if-absent, marked in
// flight for a bounded time), then either Commit (the upstream accepted the
// event; the key is remembered as done for a TTL) or Release (the upstream
// failed; the key is forgotten so the sender's retry gets through). A claim
// that is neither committed nor released expires after its in-flight
// timeout, so a crashed gateway never blocks an event for good.
package dedupe

import (
	"context"
	"errors"
	"time"
)

// State is the outcome of a Claim.
type State int

const (
	// Claimed means the caller now holds the key and must Commit or Release.
	Claimed State = iota
	// InFlight means another claim holds the key right now.
	InFlight
	// Done means the key was committed earlier and its TTL has not passed.
	Done
)

func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InFlight:
		return "in_flight"
	case Done:
		return "done"
	}
	return "unknown"
}

// Token identifies one claim. Commit and Release act only on the claim
// carrying the same token, so a claim that expired and was taken by another
// gateway is never overwritten or deleted by the first.
type Token uint64

// ErrFull is returned by Claim when a bounded store holds its maximum number
// of keys. Callers answer 503 so the sender retries later.
var ErrFull = errors.New("dedupe store is full")

// ErrClaimLost is returned by Commit and Release when the key is now held by
// another claim (this one expired and was taken over).
var ErrClaimLost = errors.New("dedupe claim was lost to another claimant")

// Store is a dedupe backend. Implementations are safe for concurrent use.
type Store interface {
	// Claim atomically takes key if nobody holds it, for at most inflight.
	Claim(ctx context.Context, key string, inflight time.Duration) (State, Token, error)
	// Commit marks key done for ttl: the upstream accepted the event, so it
	// is delivered whoever holds the claim now. If another claim took key
	// after tok's lapsed, that claim is overwritten (its release then
	// leaves key done) and Commit returns ErrClaimLost.
	Commit(ctx context.Context, key string, tok Token, ttl time.Duration) error
	// Release forgets key, if tok still holds it.
	Release(ctx context.Context, key string, tok Token) error
	// Close releases the store's resources. It is safe to call twice.
	Close() error
}
