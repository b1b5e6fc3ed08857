package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Sender defaults.
const (
	DefaultWorkers     = 8
	DefaultPerEndpoint = 4
	// DefaultRetention is how long delivered, failed and gone deliveries
	// are kept: 7 days.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultPurgeInterval is how often the running sender purges.
	DefaultPurgeInterval = 10 * time.Minute
	// DefaultPurgeBatch is how many deliveries one purge transaction
	// deletes at most.
	DefaultPurgeBatch = 500
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
	// Retention is how long a delivery is kept once it is delivered,
	// failed or gone (counted from its last change); Run purges older
	// ones with their payload and attempt log. Failed and gone deliveries
	// can be retried by hand until then. Pending deliveries are never
	// purged. Default DefaultRetention (7 days); negative keeps
	// everything.
	Retention time.Duration
	// PurgeInterval is how often Run purges; it also purges when it
	// starts. Default DefaultPurgeInterval (10 minutes).
	PurgeInterval time.Duration
	// PurgeBatch bounds the deliveries deleted per write transaction, so
	// that a large backlog never holds the outbox's write lock for long;
	// a purge pass runs transactions until the backlog is gone. Default
	// DefaultPurgeBatch.
	PurgeBatch int
	// Now is the clock of the purge cutoff. Default time.Now.
	Now func() time.Time
}

// Sender delivers the deliveries of an Outbox.
type Sender struct {
	ob          *Outbox
	workers     int
	perEndpoint int
	logger      *zap.Logger
	onAttempt   func(*Delivery, Attempt)
	client      atomic.Pointer[Client]
	clients     clientCache
	schedule    atomic.Pointer[Schedule]
	wake        chan struct{}
	running     atomic.Bool
	retention   atomic.Int64
	purgeEvery  time.Duration
	purgeBatch  int
	now         func() time.Time
}

// New returns a Sender for ob. Call Run to start delivering.
func New(ob *Outbox, opts Options) (*Sender, error) {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PerEndpoint <= 0 {
		opts.PerEndpoint = DefaultPerEndpoint
	}
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
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.PurgeInterval <= 0 {
		opts.PurgeInterval = DefaultPurgeInterval
	}
	if opts.PurgeBatch <= 0 {
		opts.PurgeBatch = DefaultPurgeBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sender{
		ob:          ob,
		workers:     opts.Workers,
		perEndpoint: opts.PerEndpoint,
		logger:      opts.Logger,
		onAttempt:   opts.OnAttempt,
		wake:        make(chan struct{}, 1),
		purgeEvery:  opts.PurgeInterval,
		purgeBatch:  opts.PurgeBatch,
		now:         opts.Now,
	}
	s.retention.Store(int64(opts.Retention))
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

// SetSchedule replaces the schedule used by later attempts.
func (s *Sender) SetSchedule(sch Schedule) { s.schedule.Store(&sch) }

// SetRetention replaces the retention used by later purges (a config
// reload); 0 means DefaultRetention, negative keeps everything.
func (s *Sender) SetRetention(d time.Duration) {
	if d == 0 {
		d = DefaultRetention
	}
	s.retention.Store(int64(d))
}

// Retention returns the current retention.
func (s *Sender) Retention() time.Duration { return time.Duration(s.retention.Load()) }

// Purge deletes the deliveries that became final more than the retention
// ago, in transactions of at most PurgeBatch deliveries, until none is
// left or ctx ends, and returns how many it deleted.
func (s *Sender) Purge(ctx context.Context) (int, error) {
	ret := s.Retention()
	if ret < 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-ret)
	total := 0
	for ctx.Err() == nil {
		n, err := s.ob.Purge(cutoff, s.purgeBatch)
		total += n
		if err != nil || n < s.purgeBatch {
			return total, err
		}
	}
	return total, ctx.Err()
}

// purgeLoop purges at start and every purgeEvery until ctx ends.
func (s *Sender) purgeLoop(ctx context.Context) {
	t := time.NewTicker(s.purgeEvery)
	defer t.Stop()
	for {
		n, err := s.Purge(ctx)
		switch {
		case errors.Is(err, ErrClosed) || ctx.Err() != nil:
			return
		case err != nil:
			s.logger.Error("purging old deliveries failed", zap.Int("purged", n), zap.Error(err))
		case n > 0:
			s.logger.Info("purged old deliveries", zap.Int("count", n), zap.Duration("retention", s.Retention()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Schedule returns the current schedule.
func (s *Sender) Schedule() Schedule { return *s.schedule.Load() }

// Outbox returns the sender's outbox.
func (s *Sender) Outbox() *Outbox { return s.ob }

// Enqueue durably stores deliveries (all or none) and wakes the workers.
// When it returns nil, the deliveries survive a crash.
func (s *Sender) Enqueue(ds ...*Delivery) error {
	if err := s.ob.Enqueue(ds...); err != nil {
		return err
	}
	s.notify()
	return nil
}

// Get returns a delivery and its attempt log.
func (s *Sender) Get(id string) (*Delivery, []Attempt, error) { return s.ob.Get(id) }

// List returns deliveries in state, oldest first (all if limit <= 0).
func (s *Sender) List(state State, limit int) ([]*Delivery, error) { return s.ob.List(state, limit) }

// Retry re-queues a failed or gone delivery with a fresh attempt budget.
func (s *Sender) Retry(id string) (*Delivery, error) {
	d, err := s.ob.Retry(id, time.Now())
	if err == nil {
		s.notify()
	}
	return d, err
}

func (s *Sender) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers due deliveries until ctx ends, then waits for the attempts
// in flight: they are cancelled, logged as interrupted and left pending.
// When it starts, attempts still leased in the outbox (a previous process
// or Run stopped in the middle) are logged as interrupted and made due.
// Meanwhile it purges deliveries older than the retention, at start and
// every PurgeInterval. It does not close the outbox. If ctx is already
// done it returns at once, without touching the outbox.
func (s *Sender) Run(ctx context.Context) error {
	if ctx.Err() != nil {
		return nil
	}
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sender is already running")
	}
	defer s.running.Store(false)

	switch n, err := s.ob.RecoverLeases(); {
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
	lastSweep := time.Now()

	done := make(chan string, s.workers)
	perEP := make(map[string]int)
	active := 0
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		if time.Since(lastSweep) >= clientSweepEvery {
			lastSweep = time.Now()
			s.clients.sweep(lastSweep.Add(-clientIdleAfter))
		}
		var wait time.Duration = -1
		if active < s.workers {
			free := s.workers - active
			ds, next, broken, more, err := s.ob.lease(time.Now(), free, func(ep string) int {
				return s.perEndpoint - perEP[ep]
			})
			switch {
			case errors.Is(err, ErrClosed):
				wg.Wait()
				return err
			case err != nil:
				s.logger.Error("leasing deliveries failed; retrying in 1s", zap.Error(err))
				wait = time.Second
			default:
				for _, d := range broken {
					s.logger.Error("delivery failed: its payload in the outbox is unreadable (corrupt record)",
						zap.String("id", d.ID), zap.String("event", d.Event), zap.String("endpoint", endpointKey(d.URL)))
				}
				for _, d := range ds {
					perEP[endpointKey(d.URL)]++
					active++
					wg.Add(1)
					go s.work(ctx, d, done, &wg)
				}
				if len(ds) == free {
					// Maybe more due; look again once a worker is free.
					wait = -1
				} else if more {
					// Entries were dropped or failed: look again now.
					wait = 0
				} else if !next.IsZero() {
					wait = max(time.Until(next), 0)
				}
			}
		}
		var tc <-chan time.Time
		if wait >= 0 {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-s.wake:
		case k := <-done:
			active--
			if perEP[k]--; perEP[k] <= 0 {
				delete(perEP, k)
			}
		drain:
			for {
				select {
				case k := <-done:
					active--
					if perEP[k]--; perEP[k] <= 0 {
						delete(perEP, k)
					}
				default:
					break drain
				}
			}
		case <-tc:
		}
	}
}

// work makes one attempt of the leased d and records it.
func (s *Sender) work(ctx context.Context, d *Delivery, done chan<- string, wg *sync.WaitGroup) {
	defer wg.Done()
	key := endpointKey(d.URL)
	defer func() { done <- key }()

	n := d.Attempts
	var res *Result
	if d.Net.IsZero() {
		res = s.client.Load().Do(ctx, d, n)
	} else if c, release, err := s.clients.get(d.Net, time.Now()); err != nil {
		// A corrupt record: the guard cannot be built, so no attempt.
		res = &Result{Start: time.Now(), Err: fmt.Errorf("%w: the delivery's network settings are invalid: %v", ErrForbiddenAddress, err)}
	} else {
		res = c.Do(ctx, d, n)
		release()
	}
	a := attemptFrom(res, n)
	if interrupted(ctx, res) {
		a.Outcome = OutcomeInterrupted
		a.Error = "attempt interrupted (sender stopped); not counted"
	} else {
		// An answer decides, even one that came as the sender stopped:
		// a 2xx is delivered, not sent again.
		a.Outcome, a.NextWait = s.schedule.Load().decide(res, n, d.MaxAttempts)
	}
	// Record it. Should the outbox refuse (disk full), keep trying: the
	// lease is on disk, so a restart would redeliver anyway.
	for i := 0; ; i++ {
		err := s.ob.complete(d, a, time.Now())
		if err == nil {
			break
		}
		s.logger.Error("recording attempt failed", zap.String("id", d.ID), zap.Error(err))
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	lvl := zap.InfoLevel
	if a.Outcome != OutcomeDelivered {
		lvl = zap.WarnLevel
	}
	if ce := s.logger.Check(lvl, "delivery attempt"); ce != nil {
		ce.Write(zap.String("id", d.ID), zap.String("event", d.Event), zap.String("endpoint", key),
			zap.Int("attempt", n), zap.Int("status", a.Status), zap.String("error", a.Error),
			zap.String("outcome", string(a.Outcome)), zap.Duration("latency", a.Latency),
			zap.Duration("next_wait", a.NextWait))
	}
	if s.onAttempt != nil {
		s.onAttempt(d, a)
	}
}
