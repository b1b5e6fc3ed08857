package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/internal/recovery"
)

// Sender defaults.
const (
	DefaultWorkers     = 8
	DefaultPerEndpoint = 4
	// DefaultRetain is how long delivered, failed and gone deliveries are
	// kept: 7 days.
	DefaultRetain = 7 * 24 * time.Hour
	// DefaultPurgeInterval is how often the running sender purges.
	DefaultPurgeInterval = 10 * time.Minute
	// DefaultPurgeBatch is how many deliveries one purge transaction
	// deletes at most.
	DefaultPurgeBatch = 500
	// DefaultStopGrace is how long a stopping sender lets the attempts in
	// flight finish.
	DefaultStopGrace = 5 * time.Second
)

// Options configure a Sender.
type Options struct {
	// Workers bounds how many attempts run at once. Default 8.
	Workers int
	// PerEndpoint bounds how many attempts run at once against one
	// endpoint (scheme and host). Default 4.
	PerEndpoint int
	// Schedule is the retry schedule. The zero value is the default.
	Schedule Schedule
	// Client makes the attempts of deliveries without network settings
	// (Delivery.Net is zero). Default: NewClient(ClientOptions{}), which
	// has the SSRF guard on. Deliveries with settings get a client made
	// from them, cached while in use.
	Client *Client
	// Logger gets one line per attempt (id, event, endpoint host, status,
	// outcome); never a body or a secret. Default: no logging.
	Logger *zap.Logger
	// OnAttempt, if set, is called after each attempt is recorded.
	OnAttempt func(*Delivery, Attempt)
	// Retain is how long a delivery is kept once it is delivered, failed
	// or gone (counted from its last change); Run purges older ones with
	// their payload and attempt log. Failed and gone deliveries can be
	// retried by hand until then. Pending deliveries are never purged.
	// Default DefaultRetain (7 days); negative keeps everything.
	Retain time.Duration
	// PurgeInterval is how often Run purges; it also purges when it
	// starts. Default DefaultPurgeInterval (10 minutes).
	PurgeInterval time.Duration
	// PurgeBatch bounds the deliveries deleted per write transaction, so
	// that a large backlog never holds the outbox's write lock for long;
	// a purge pass runs transactions until the backlog is gone. Default
	// DefaultPurgeBatch.
	PurgeBatch int
	// StopGrace is how long Run, once its context ends, lets the attempts
	// in flight finish before it cuts them short: an attempt whose answer
	// comes within it is recorded as answered (a 2xx is delivered and not
	// sent again at the next start). An attempt cut short is logged as
	// interrupted and made again at the next start, so delivery stays at
	// least once; a process killed without a stop is recovered the same
	// way. No new attempt starts once ctx ended. Default DefaultStopGrace
	// (5s); negative cuts the attempts short at once. Each attempt is also
	// bounded by its client's timeout.
	StopGrace time.Duration
	// Attempt, if set, makes the attempts instead of the sender's
	// clients (Client and the clients of Delivery.Net): attempt n (the
	// delivery's Number) of d, whose Body and Headers are loaded. It must
	// honour ctx and bound its own time. For deliveries whose request is
	// stored rather than made (the inbox forwards the original request
	// to its destination with Client.Post). Default: Client.Do.
	Attempt func(ctx context.Context, d *Delivery, n int) *Result
	// Rate, if positive, is a ceiling on the attempts started per second
	// (first attempts and retries alike), a token bucket read on Now.
	// Default 0: no ceiling.
	Rate float64
	// Burst is how many attempts the Rate ceiling lets start at once
	// after a pause: any second sees at most Rate + Burst. Default a
	// twentieth of Rate, at least 1.
	Burst int
	// Now is the sender's one clock: when deliveries are due (leases),
	// when attempts are recorded and their next attempt scheduled, manual
	// retries, the recovery of interrupted attempts, the purge cutoff and
	// the sweep of idle clients. Tests move it instead of waiting (then
	// call Wake). The Rate ceiling too. Attempts themselves are timed by
	// the wall clock.
	// Default time.Now.
	Now func() time.Time
}

// Sender delivers the deliveries of an Outbox.
type Sender struct {
	ob         *Outbox
	limits     limits // Workers and PerEndpoint
	logger     *zap.Logger
	onAttempt  func(*Delivery, Attempt)
	attemptFn  func(context.Context, *Delivery, int) *Result
	pacer      pacer
	client     atomic.Pointer[Client]
	clients    clientCache
	schedule   atomic.Pointer[Schedule]
	wake       chan struct{}
	running    atomic.Bool
	retain     atomic.Int64
	purgeEvery time.Duration
	purgeBatch int
	stopGrace  time.Duration
	now        func() time.Time
}

// New returns a Sender for ob. Call Run to start delivering.
func New(ob *Outbox, opts Options) (*Sender, error) {
	if opts.Client == nil {
		c, err := NewClient(ClientOptions{})
		if err != nil {
			return nil, err
		}
		opts.Client = c
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Retain == 0 {
		opts.Retain = DefaultRetain
	}
	if opts.PurgeInterval <= 0 {
		opts.PurgeInterval = DefaultPurgeInterval
	}
	if opts.PurgeBatch <= 0 {
		opts.PurgeBatch = DefaultPurgeBatch
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sender{
		ob:         ob,
		logger:     opts.Logger,
		onAttempt:  opts.OnAttempt,
		attemptFn:  opts.Attempt,
		clients:    clientCache{now: opts.Now},
		wake:       make(chan struct{}, 1),
		purgeEvery: opts.PurgeInterval,
		purgeBatch: opts.PurgeBatch,
		stopGrace:  opts.StopGrace,
		now:        opts.Now,
	}
	s.retain.Store(int64(opts.Retain))
	s.limits.set(opts.Workers, opts.PerEndpoint)
	s.pacer.set(opts.Rate, opts.Burst, opts.Now())
	s.client.Store(opts.Client)
	sch := opts.Schedule
	s.schedule.Store(&sch)
	return s, nil
}

// SetClient replaces the client used by later attempts of deliveries
// without network settings, and closes the idle connections of the one it
// replaces.
func (s *Sender) SetClient(c *Client) {
	if old := s.client.Swap(c); old != nil && old != c {
		old.Close()
	}
}

// SetConcurrency changes Workers and PerEndpoint (each DefaultWorkers or
// DefaultPerEndpoint when <= 0) while the sender runs: more room starts
// attempts at once; less lets those in flight finish and starts no new
// one until they fit.
func (s *Sender) SetConcurrency(workers, perEndpoint int) {
	s.limits.set(workers, perEndpoint)
	s.Wake()
}

// SetRate changes the Rate ceiling and its Burst (see Options) while the
// sender runs; perSecond <= 0 removes the ceiling.
func (s *Sender) SetRate(perSecond float64, burst int) {
	s.pacer.set(perSecond, burst, s.now())
	s.Wake()
}

// SetSchedule replaces the schedule used by later attempts.
func (s *Sender) SetSchedule(sch Schedule) { s.schedule.Store(&sch) }

// Schedule returns the current schedule.
func (s *Sender) Schedule() Schedule { return *s.schedule.Load() }

// SetRetain replaces the retention used by later purges (a config
// reload); 0 means DefaultRetain, negative keeps everything.
func (s *Sender) SetRetain(d time.Duration) {
	if d == 0 {
		d = DefaultRetain
	}
	s.retain.Store(int64(d))
}

// Retain returns the current retention.
func (s *Sender) Retain() time.Duration { return time.Duration(s.retain.Load()) }

// Outbox returns the sender's outbox.
func (s *Sender) Outbox() *Outbox { return s.ob }

// Enqueue durably stores deliveries (all or none) and wakes the workers.
// When it returns nil, the deliveries survive a crash.
func (s *Sender) Enqueue(ds ...*Delivery) error {
	if err := s.ob.Enqueue(ds...); err != nil {
		return err
	}
	s.Wake()
	return nil
}

// Stats counts the deliveries by state and reads the oldest pending one.
func (s *Sender) Stats() (Stats, error) { return s.ob.Stats() }

// Get returns a delivery and its attempt log.
func (s *Sender) Get(id string) (*Delivery, []Attempt, error) { return s.ob.Get(id) }

// List returns deliveries in state, oldest first (all if limit <= 0).
func (s *Sender) List(state State, limit int) ([]*Delivery, error) { return s.ob.List(state, limit) }

// Retry re-queues a failed or gone delivery with a fresh attempt budget,
// due now.
func (s *Sender) Retry(id string) (*Delivery, error) {
	d, err := s.ob.Retry(id, s.now())
	if err == nil {
		s.Wake()
	}
	return d, err
}

// RetryAll re-queues every delivery in state (failed or gone) that became
// final at or after since (all for a zero since), due now.
func (s *Sender) RetryAll(state State, since time.Time) ([]*Delivery, error) {
	ds, err := s.ob.RetryAll(state, since, s.now())
	if err == nil && len(ds) > 0 {
		s.Wake()
	}
	return ds, err
}

// Replay queues a delivered, failed or gone delivery again with a fresh
// attempt budget, due now.
func (s *Sender) Replay(id string) (*Delivery, error) {
	d, err := s.ob.Replay(id, s.now())
	if err == nil {
		s.Wake()
	}
	return d, err
}

// ReplayAll queues again every delivery in state (delivered, failed or
// gone) that became final at or after from and before to (a zero from or
// to leaves that end open), due now.
func (s *Sender) ReplayAll(state State, from, to time.Time) ([]*Delivery, error) {
	ds, err := s.ob.ReplayAll(state, from, to, s.now())
	if err == nil && len(ds) > 0 {
		s.Wake()
	}
	return ds, err
}

// Wake makes Run look for due deliveries at once: after a change it does
// not know of (another writer, or a test that moved Options.Now).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due deliveries until ctx ends, then lets the attempts in
// flight finish for up to StopGrace: those still without an answer then
// are cancelled, logged as interrupted and left pending.
// When it starts, attempts still leased in the outbox (a previous process
// or Run stopped in the middle) are logged as interrupted and made due.
// Meanwhile it purges deliveries older than Retain, at start and every
// PurgeInterval. It does not close the outbox. If ctx is already done it
// returns at once, without touching the outbox.
func (s *Sender) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sender is already running")
	}
	defer s.running.Store(false)

	switch n, err := s.ob.RecoverLeases(s.now()); {
	case errors.Is(err, ErrClosed):
		return err
	case err != nil:
		s.logger.Error("recovering interrupted attempts failed", zap.Error(err))
	case n > 0:
		s.logger.Warn("attempts interrupted by the previous stop will be made again", zap.Int("count", n))
	}

	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() { defer close(purged); s.purgeLoop(purgeCtx) }()
	defer func() { stopPurge(); <-purged }()

	defer s.clients.sweep(time.Time{})
	lastSweep := s.now()

	// Attempts outlive ctx by the stop grace: their own context ends only
	// when drain gives up on them. Without a grace they run on ctx, so
	// that its end cuts them short at that very moment.
	attemptCtx, cutShort := ctx, context.CancelFunc(func() {})
	if s.stopGrace > 0 {
		attemptCtx, cutShort = context.WithCancel(context.WithoutCancel(ctx))
	}
	defer cutShort()
	sl := newSlots(&s.limits)
	var attempts sync.WaitGroup
	defer s.drain(&attempts, cutShort)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if now := s.now(); now.Sub(lastSweep) >= clientSweepEvery {
			lastSweep = now
			s.clients.sweep(now.Add(-clientIdleAfter))
		}
		lookAt, err := s.dispatch(attemptCtx, sl, &attempts)
		if err != nil {
			return err
		}
		var due <-chan time.Time
		if !lookAt.IsZero() {
			timer.Reset(max(lookAt.Sub(s.now()), 0))
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-sl.freed:
		case <-due:
		}
		timer.Stop()
	}
}

// drain waits for the attempts in flight when Run stops, for up to the
// stop grace, then cuts the rest short and waits for them to be recorded.
func (s *Sender) drain(attempts *sync.WaitGroup, cutShort context.CancelFunc) {
	done := make(chan struct{})
	go func() { attempts.Wait(); close(done) }()
	if s.stopGrace > 0 {
		t := time.NewTimer(s.stopGrace)
		defer t.Stop()
		select {
		case <-done:
			return
		case <-t.C:
			s.logger.Warn("stop grace over: interrupting the attempts still in flight", zap.Duration("grace", s.stopGrace))
		}
	}
	cutShort()
	<-done
}

// dispatch leases due deliveries for the free slots and starts an attempt
// for each. It returns when to look again by the clock: zero means when a
// slot is freed or Wake is called, whichever comes first. Its only error
// is ErrClosed.
func (s *Sender) dispatch(ctx context.Context, sl *slots, attempts *sync.WaitGroup) (time.Time, error) {
	free := sl.room()
	if free <= 0 {
		return time.Time{}, nil
	}
	now := s.now()
	free, nextToken := s.pacer.allow(now, free)
	if free <= 0 {
		return nextToken, nil
	}
	b, err := s.ob.lease(now, free, sl.roomFor)
	switch {
	case errors.Is(err, ErrClosed):
		return time.Time{}, err
	case err != nil:
		s.logger.Error("leasing deliveries failed; retrying in 1s", zap.Error(err))
		return now.Add(time.Second), nil
	}
	for _, d := range b.broken {
		s.logger.Error("delivery failed: its payload in the outbox is unreadable (corrupt record)",
			zap.String("id", d.ID), zap.String("event", d.Event), zap.String("endpoint", endpointKey(d.URL)))
	}
	s.pacer.take(now, len(b.leased))
	for _, d := range b.leased {
		ep := endpointKey(d.URL)
		sl.take(ep)
		attempts.Add(1)
		go func() {
			defer attempts.Done()
			defer sl.release(ep)
			// Last resort: work recovers what it calls; a panic here
			// leaves the delivery leased until the next start.
			defer recovery.Recover(s.logger, "sender.worker")
			s.work(ctx, d)
		}()
	}
	switch {
	case len(b.leased) == free && !nextToken.IsZero():
		return nextToken, nil // maybe more due: look again at the next token
	case len(b.leased) == free:
		return time.Time{}, nil // maybe more due: look again once a slot is free
	case b.more:
		return now, nil // entries were dropped or failed: look again now
	}
	return b.next, nil
}

// work makes one attempt of the leased d and records it.
func (s *Sender) work(ctx context.Context, d *Delivery) {
	n := d.Number()
	var res *Result
	start := time.Now()
	if recovery.Do(s.logger, "sender.attempt", func() { res = s.attempt(ctx, d, n) }) {
		res = &Result{Start: start, Latency: time.Since(start), Kind: KindError, Err: errAttemptPanicked}
	}
	a := s.Schedule().Judge(ctx, res, n, d.Attempts, d.MaxAttempts)
	if !s.record(ctx, d, a) {
		return
	}
	lvl := zap.InfoLevel
	if a.Outcome != OutcomeDelivered {
		lvl = zap.WarnLevel
	}
	if ce := s.logger.Check(lvl, "delivery attempt"); ce != nil {
		ce.Write(zap.String("id", d.ID), zap.String("event", d.Event), zap.String("endpoint", endpointKey(d.URL)),
			zap.Int("attempt", n), zap.Int("status", a.Status), zap.String("error", a.Error),
			zap.String("outcome", string(a.Outcome)), zap.Duration("latency", a.Latency),
			zap.Duration("next_wait", a.NextWait))
	}
	if s.onAttempt != nil {
		recovery.Do(s.logger, "sender.on_attempt", func() { s.onAttempt(d, a) })
	}
}

// errAttemptPanicked is the error of an attempt that panicked: a failure
// like any other, retried on the schedule.
var errAttemptPanicked = errors.New("internal error during the attempt (a panic, logged with its stack)")

// attempt makes attempt n of d with the client of its network settings.
func (s *Sender) attempt(ctx context.Context, d *Delivery, n int) *Result {
	if s.attemptFn != nil {
		return s.attemptFn(ctx, d, n)
	}
	if d.Net.IsZero() {
		return s.client.Load().Do(ctx, d, n)
	}
	c, release, err := s.clients.get(d.Net)
	if err != nil {
		// A corrupt record: the guard cannot be built, so no attempt.
		return &Result{Start: time.Now(), Kind: KindBlocked, Err: fmt.Errorf("%w: the delivery's network settings are invalid: %v", ErrForbiddenAddress, err)}
	}
	defer release()
	return c.Do(ctx, d, n)
}

// record stores attempt a of d, and reports whether it did. Should the
// outbox refuse (disk full), it keeps trying every second until ctx ends:
// the lease is on disk, so a restart would make the attempt again anyway.
func (s *Sender) record(ctx context.Context, d *Delivery, a Attempt) bool {
	for {
		err := s.ob.complete(d, a, s.now())
		if err == nil {
			return true
		}
		s.logger.Error("recording attempt failed", zap.String("id", d.ID), zap.Error(err))
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}
