// Package inbox is the receiver's store-and-forward mode: a verified event
// is written durably to a local bbolt file before it is acknowledged, then
// delivered to one destination with retries, a bound on the deliveries in
// flight, an optional rate ceiling and an optional order per key; an event
// whose attempts run out is kept as a dead letter, and any entry can be
// replayed.
//
// It is the sender's durable engine (package sender: the outbox with its
// group commit, leases recovered at start, the retry schedule, the attempt
// log, retention) with a request of its own: the sender signs and sends an
// event it makes, the inbox forwards the request it received, byte for
// byte, with the original signature, plus the gateway's X-Scgate- headers.
// The inbox file stores no secret.
//
// Delivery is at least once: after a crash, an attempt that was in flight
// is made again. The destination dedupes on X-Scgate-Dedupe-Key or
// X-Scgate-Delivery-Id.
//
// The package does not import Caddy; the receiver's glue drives it.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/sender"
)

// Headers the inbox sets on every attempt. Incoming request headers with
// the X-Scgate- prefix are never forwarded, so none can be spoofed.
const (
	// HeaderVerified is "true": only verified events are queued.
	HeaderVerified = "X-Scgate-Verified"
	// HeaderDedupeKey carries the event's dedupe key, when it has one.
	HeaderDedupeKey = "X-Scgate-Dedupe-Key"
	// HeaderReencoded names the re-encoding style of a re-encoded body.
	HeaderReencoded = "X-Scgate-Reencoded"
	// HeaderDeliveryID carries the entry's id, stable across attempts
	// and replays.
	HeaderDeliveryID = "X-Scgate-Delivery-Id"
	// HeaderDeliveryAttempt carries the attempt number, from 1; it goes
	// on across replays, so a replay is told from a retry.
	HeaderDeliveryAttempt = "X-Scgate-Delivery-Attempt"
	// DefaultUserAgent is the User-Agent of an attempt whose original
	// request had none.
	DefaultUserAgent = "scgate-inbox/1 (+https://github.com/scgate/scgate)"
)

// Defaults.
const (
	// DefaultAttempts is the attempt budget of an entry: with
	// DefaultBackoff the last attempt comes about 3 days (74.6 hours,
	// before jitter) after the first.
	DefaultAttempts = 18
	// DefaultConcurrency bounds the deliveries in flight.
	DefaultConcurrency = 8
	// DefaultTimeout bounds one attempt.
	DefaultTimeout = sender.DefaultTimeout
	// DefaultRetain is how long delivered, failed and gone entries are
	// kept: 7 days.
	DefaultRetain = sender.DefaultRetain
)

// DefaultBackoff are the waits before the second to seventh attempts; the
// last one repeats.
var DefaultBackoff = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// State is the state of an entry: pending (queued or in an attempt),
// delivered, failed (attempts exhausted: a dead letter) or gone (the
// destination answered 410).
type State = sender.State

// Entry states.
const (
	StatePending   = sender.StatePending
	StateDelivered = sender.StateDelivered
	StateFailed    = sender.StateFailed
	StateGone      = sender.StateGone
)

// States lists every state.
var States = sender.States

// ParseState returns the State named s.
func ParseState(s string) (State, error) { return sender.ParseState(s) }

// Attempt is one entry of an entry's attempt log: its number, status,
// result kind (a bounded set, for metrics), latency and outcome.
type Attempt = sender.Attempt

// Outcomes of an attempt, as in Attempt.Outcome.
const (
	OutcomeDelivered   = sender.OutcomeDelivered
	OutcomeRetry       = sender.OutcomeRetry
	OutcomeFailed      = sender.OutcomeFailed
	OutcomeGone        = sender.OutcomeGone
	OutcomeInterrupted = sender.OutcomeInterrupted
)

// Errors of the API.
var (
	ErrNotFound = sender.ErrNotFound
	// ErrNotReplayable is returned by Replay for a pending entry: it is
	// queued already (DeliverNow makes it due at once).
	ErrNotReplayable = errors.New("only delivered, failed or gone entries can be replayed")
	// ErrNotPending is returned by DeliverNow for a delivered, failed or
	// gone entry: replay it instead.
	ErrNotPending = errors.New("only pending entries can be delivered now")
	// ErrHeldBack is returned by DeliverNow for an entry waiting behind
	// an earlier entry of its order key, which must settle first.
	ErrHeldBack = errors.New("the entry waits behind an earlier entry of its order key (deliver that one now)")
	// ErrUnsupported is returned by an engine for an action its backend
	// cannot do.
	ErrUnsupported   = errors.New("not supported by this inbox backend")
	ErrClosed        = sender.ErrClosed
	ErrStoreLocked   = sender.ErrStoreLocked
	ErrDamaged       = sender.ErrDamaged
	ErrInvalidURL    = errors.New("inbox destination must be an absolute http or https URL")
	ErrInvalidHeader = errors.New("event header cannot be sent")
	// ErrSettledDuplicate is returned by an engine's Enqueue for an event
	// it recognises as a copy of one it already took and has since
	// settled (a shared engine's publish dedupe): the event was
	// acknowledged before, nothing is queued, and no id is known.
	ErrSettledDuplicate = errors.New("duplicate of an entry already settled")
)

// Settings are what a config reload may change (Reconfigure).
type Settings struct {
	// Destination is the URL every entry is delivered to, absolute http
	// or https. It comes from the config only and is trusted: loopback
	// and private addresses are allowed (the SSRF guard protects the
	// sender's endpoints, not this). Redirects are not followed. Entries
	// go to the destination of the moment of each attempt. Required.
	Destination string
	// Attempts is the attempt budget of an entry, the first included;
	// then it is failed. Default DefaultAttempts.
	Attempts int
	// Backoff are the waits before the second, third, ... attempt,
	// spread by ±20%; the last repeats. A Retry-After on a 429 or 503
	// makes the wait longer, up to an hour. Default DefaultBackoff.
	Backoff []time.Duration
	// Timeout bounds one attempt, from connecting to reading the
	// response. Default DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds the attempts in flight to the destination.
	// Default DefaultConcurrency.
	Concurrency int
	// Rate, if positive, is a ceiling on the attempts started per
	// second (retries included). Default 0: none.
	Rate float64
	// Burst is how many attempts Rate lets start at once after a pause.
	// Default a twentieth of Rate, at least 1.
	Burst int
	// Retain is how long delivered, failed and gone entries are kept
	// (from their last change), listable and replayable; negative keeps
	// them. Pending entries are never purged. Default DefaultRetain.
	Retain time.Duration
}

// Options configure an Inbox.
type Options struct {
	Settings
	// Logger gets one line per attempt (id, event type, status,
	// outcome), never a body or a header. Default: none.
	Logger *zap.Logger
	// Now is the inbox's clock: when entries are queued and due, the
	// rate ceiling, the latencies given to OnSettled. Tests move it
	// (then call Wake). Default time.Now.
	Now func() time.Time
	// OnAttempt, if set, is called after each attempt is recorded: for
	// attempts by outcome and kind, and their latency.
	OnAttempt func(*Entry, Attempt)
	// OnSettled, if set, is called when an attempt makes an entry
	// delivered, failed or gone, with the time since it was queued
	// (enqueued or replayed): the delivery latency.
	OnSettled func(e *Entry, latency time.Duration)
	// StopGrace is how long Run, once its context ends, lets attempts in
	// flight finish. Default sender.DefaultStopGrace.
	StopGrace time.Duration
	// LockTimeout is how long Open waits for another process to release
	// the file. Default 1s.
	LockTimeout time.Duration
	// NoBatch commits each enqueue alone (one fsync each) instead of
	// group-committing concurrent ones: for benchmarks.
	NoBatch bool
}

// Inbox is an open inbox file and its delivery engine. bbolt locks the
// file: one process at a time.
type Inbox struct {
	entries
	s         *sender.Sender
	now       func() time.Time
	dest      atomic.Pointer[string]
	client    atomic.Pointer[sender.Client]
	timeout   atomic.Int64
	onAttempt func(*Entry, Attempt)
	onSettled func(*Entry, time.Duration)
}

// Open opens (creating it if needed) the inbox file at path. Entries in
// an attempt when a previous process stopped are recovered by Run.
func Open(path string, opts Options) (*Inbox, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ob, err := sender.OpenOutbox(path, sender.OutboxOptions{NoBatch: opts.NoBatch, LockTimeout: opts.LockTimeout})
	if err != nil {
		return nil, err
	}
	in := &Inbox{entries: entries{ob}, now: opts.Now, onAttempt: opts.OnAttempt, onSettled: opts.OnSettled}
	client, err := in.setClient(opts.Timeout)
	if err != nil {
		ob.Close()
		return nil, err
	}
	s, err := sender.New(ob, sender.Options{
		Client:    client,
		Attempt:   in.attempt,
		OnAttempt: in.observe,
		Logger:    opts.Logger,
		Now:       opts.Now,
		StopGrace: opts.StopGrace,
	})
	if err != nil {
		ob.Close()
		return nil, err
	}
	in.s = s
	in.apply(opts.Settings)
	return in, nil
}

// Check validates the settings.
func (s Settings) Check() error {
	if err := sender.CheckURL(s.Destination); err != nil {
		return fmt.Errorf("%w (got %q)", ErrInvalidURL, s.Destination)
	}
	if s.Attempts < 0 || s.Concurrency < 0 || s.Timeout < 0 || s.Rate < 0 || s.Burst < 0 {
		return errors.New("inbox settings: attempts, concurrency, timeout, rate and burst must not be negative")
	}
	for _, d := range s.Backoff {
		if d < 0 {
			return errors.New("inbox settings: a backoff delay is negative")
		}
	}
	return nil
}

// Reconfigure applies new settings to the running inbox (a config
// reload): later attempts follow them; attempts in flight finish as they
// began.
func (in *Inbox) Reconfigure(s Settings) error {
	if err := s.Check(); err != nil {
		return err
	}
	if time.Duration(in.timeout.Load()) != s.Timeout {
		if _, err := in.setClient(s.Timeout); err != nil {
			return err
		}
	}
	in.apply(s)
	return nil
}

// apply sets the checked settings s, all but the client's timeout.
func (in *Inbox) apply(s Settings) {
	dest := s.Destination
	in.dest.Store(&dest)
	in.s.SetSchedule(s.Schedule())
	c := s.Workers()
	in.s.SetConcurrency(c, c) // one destination: the per-endpoint bound is the same
	in.s.SetRate(s.Rate, s.Burst)
	in.s.SetRetain(s.Retain)
}

// Schedule returns the retry schedule of s: its attempts and backoff, or
// the defaults.
func (s Settings) Schedule() sender.Schedule {
	attempts, backoff := s.Attempts, s.Backoff
	if attempts == 0 {
		attempts = DefaultAttempts
	}
	if len(backoff) == 0 {
		backoff = DefaultBackoff
	}
	return sender.Schedule{Attempts: attempts, Backoff: backoff}
}

// Workers returns the bound on attempts in flight of s: Concurrency, or
// DefaultConcurrency.
func (s Settings) Workers() int {
	if s.Concurrency == 0 {
		return DefaultConcurrency
	}
	return s.Concurrency
}

// NewClient returns the client of attempts bounded by timeout (0: the
// default), with no SSRF guard (the destination is trusted), no redirect
// followed and the inbox's User-Agent: every engine's.
func NewClient(timeout time.Duration) (*sender.Client, error) {
	return sender.NewClient(sender.ClientOptions{AllowPrivate: true, Timeout: timeout, UserAgent: DefaultUserAgent})
}

// setClient makes the client of attempts bounded by timeout (NewClient).
// It closes the idle connections of the one it replaces.
func (in *Inbox) setClient(timeout time.Duration) (*sender.Client, error) {
	c, err := NewClient(timeout)
	if err != nil {
		return nil, err
	}
	in.timeout.Store(int64(timeout))
	if old := in.client.Swap(c); old != nil {
		old.Close()
	}
	return c, nil
}

// Run delivers queued entries until ctx ends, then lets the attempts in
// flight finish for up to StopGrace. When it starts, attempts left in
// flight by a previous process are logged as interrupted and made again;
// meanwhile it purges entries older than Retain. It does not close the
// file.
func (in *Inbox) Run(ctx context.Context) error { return in.s.Run(ctx) }

// Sender returns the sender the inbox runs on, for readers of inboxes and
// outboxes alike (the dashboard): its List, Get, Replay and ReplayAll are
// the inbox's.
func (in *Inbox) Sender() *sender.Sender { return in.s }

// Wake makes Run look for due entries at once: after moving Options.Now.
func (in *Inbox) Wake() { in.s.Wake() }

// Close closes the file; stop Run first. Every Enqueue after it fails
// with ErrClosed.
func (in *Inbox) Close() error {
	if c := in.client.Load(); c != nil {
		c.Close()
	}
	return in.ob.Close()
}
