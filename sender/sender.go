package sender

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Sender defaults.
const (
	DefaultWorkers     = 8
	DefaultPerEndpoint = 4
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
	// Client makes the attempts. Default: NewClient(ClientOptions{}),
	// which has the SSRF guard on.
	Client *Client
	// Logger gets one line per attempt (id, event, endpoint host, status,
	// outcome); never a body or a secret. Default: no logging.
	Logger *zap.Logger
	// OnAttempt, if set, is called after each attempt is recorded.
	OnAttempt func(*Delivery, Attempt)
}

// Sender delivers the deliveries of an Outbox.
type Sender struct {
	ob          *Outbox
	workers     int
	perEndpoint int
	logger      *zap.Logger
	onAttempt   func(*Delivery, Attempt)
	client      atomic.Pointer[Client]
	schedule    atomic.Pointer[Schedule]
	wake        chan struct{}
	running     atomic.Bool
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
	s := &Sender{
		ob:          ob,
		workers:     opts.Workers,
		perEndpoint: opts.PerEndpoint,
		logger:      opts.Logger,
		onAttempt:   opts.OnAttempt,
		wake:        make(chan struct{}, 1),
	}
	s.client.Store(opts.Client)
	sch := opts.Schedule
	s.schedule.Store(&sch)
	return s, nil
}

// SetClient replaces the client used by later attempts (a config reload).
func (s *Sender) SetClient(c *Client) { s.client.Store(c) }

// SetSchedule replaces the schedule used by later attempts.
func (s *Sender) SetSchedule(sch Schedule) { s.schedule.Store(&sch) }

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
// It does not close the outbox.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sender is already running")
	}
	defer s.running.Store(false)

	done := make(chan string, s.workers)
	perEP := make(map[string]int)
	active := 0
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		var wait time.Duration = -1
		if active < s.workers {
			tentative := make(map[string]int, len(perEP)+1)
			for k, v := range perEP {
				tentative[k] = v
			}
			free := s.workers - active
			ds, next, _, err := s.ob.lease(time.Now(), free, func(d *Delivery) bool {
				k := endpointKey(d.URL)
				if tentative[k] >= s.perEndpoint {
					return false
				}
				tentative[k]++
				return true
			})
			switch {
			case errors.Is(err, ErrClosed):
				wg.Wait()
				return err
			case err != nil:
				s.logger.Error("leasing deliveries failed; retrying in 1s", zap.Error(err))
				wait = time.Second
			default:
				perEP = tentative
				for _, d := range ds {
					active++
					wg.Add(1)
					go s.work(ctx, d, done, &wg)
				}
				if len(ds) == free {
					// Maybe more due; look again once a worker is free.
					wait = -1
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
	res := s.client.Load().Do(ctx, d, n)
	a := attemptFrom(res, n)
	if ctx.Err() != nil {
		a.Outcome = OutcomeInterrupted
		a.Error = "attempt interrupted (sender stopped); not counted"
	} else {
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
