package screenshotcentersender

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/internal/recovery"
	"github.com/scgate/scgate/sender"
)

// senders holds one outbox and its running workers per store path, so
// that a reload (which provisions the new config before cleaning up the old
// one) does not open the bbolt file twice: bbolt locks it exclusively.
var senders = caddy.NewUsagePool()

// Timings of opening a store that another process holds. Variables for
// tests.
var (
	// openRetryInterval is the wait between attempts to open a locked
	// store.
	openRetryInterval = 500 * time.Millisecond
	// lockedErrorAfter is how long a store may stay locked before it is
	// logged at error level (then again every lockedErrorEvery).
	lockedErrorAfter = time.Minute
	lockedErrorEvery = 10 * time.Minute
)

// The reasons of the 503 while the outbox is not open: waiting for another
// process's lock, or (for a moment at start) still opening.
var (
	errNotOpen = errors.New("the outbox is not open yet: its file is locked by another process")
	errOpening = errors.New("the outbox is still opening")
)

// pooledSender is the outbox of one store path and its workers. An
// existing outbox is opened when the first handler using it is provisioned
// (which writes nothing to it), so that a corrupt or unreadable file is a
// config error; a missing one is only created when a config using it
// starts, so that `scgate validate` creates no file or directory. When the
// file is locked by another process, it keeps trying to open it in the
// background, and Sender returns nil until it has. The workers and the
// purge start only when a config using the store is started (start, from
// App.Start), never during `scgate validate`.
type pooledSender struct {
	path    string
	logger  *zap.Logger
	cancel  context.CancelFunc
	done    chan struct{} // closed when the background goroutine has ended
	started chan struct{} // closed by start
	once    sync.Once
	// create is set when the store did not exist at provision: start
	// creates it.
	create bool

	mu      sync.Mutex
	opts    sender.Options // the latest settings, for a sender not yet made
	s       *sender.Sender
	locked  bool           // waiting for another process's lock
	created *sender.Outbox // the outbox start created, for run
	hosts   map[string]struct{}

	// unregister removes the store from the dashboard's registry.
	unregister func()
}

// notOpen is why Sender is nil.
func (p *pooledSender) notOpen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.locked {
		return errNotOpen
	}
	return errOpening
}

// settings are what a started config sets on a store's sender; a reload
// may change them. The SSRF guard and timeout are recorded with each
// delivery instead.
type settings struct {
	Schedule             sender.Schedule
	Retain               time.Duration
	Workers, PerEndpoint int
}

// Sender returns the sender, or nil while the outbox is not open.
func (p *pooledSender) Sender() *sender.Sender {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s
}

// addHosts records the endpoint hosts of a handler using the store, for
// the pending metrics.
func (p *pooledSender) addHosts(hosts []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hosts == nil {
		p.hosts = make(map[string]struct{})
	}
	for _, h := range hosts {
		p.hosts[h] = struct{}{}
	}
}

// configuredHosts returns the endpoint hosts of the handlers that used
// the store.
func (p *pooledSender) configuredHosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.hosts))
	for h := range p.hosts {
		out = append(out, h)
	}
	return out
}

// Path returns the store path.
func (p *pooledSender) Path() string { return p.path }

// configure applies the settings of a started config.
func (p *pooledSender) configure(st settings) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts.Schedule, p.opts.Retain = st.Schedule, st.Retain
	p.opts.Workers, p.opts.PerEndpoint = st.Workers, st.PerEndpoint
	if p.s != nil {
		p.s.SetSchedule(st.Schedule)
		p.s.SetRetain(st.Retain)
		p.s.SetConcurrency(st.Workers, st.PerEndpoint)
	}
}

// start creates the outbox if it did not exist at provision, and lets the
// workers and the purge run (once the outbox is open). Idempotent; an
// error creating the outbox fails the config's start.
func (p *pooledSender) start() error {
	var err error
	p.once.Do(func() {
		defer close(p.started)
		if !p.create {
			return
		}
		ob, openErr := openStore(p.path, p.logger)
		switch {
		case openErr == nil:
			p.mu.Lock()
			p.created = ob
			p.mu.Unlock()
		case errors.Is(openErr, sender.ErrStoreLocked):
			// Created meanwhile by another process: wait for it.
			p.mu.Lock()
			p.locked = true
			p.mu.Unlock()
		default:
			err = openErr
		}
	})
	return err
}

// Destruct stops the background work: the wait for the lock, or the
// workers (attempts in flight are cancelled and left pending); then the
// outbox is closed.
func (p *pooledSender) Destruct() error {
	p.unregister()
	p.cancel()
	<-p.done
	return nil
}

// openStore opens the outbox without waiting for another process's lock.
// It changes nothing in an existing outbox: the recovery of interrupted
// attempts waits for Run. A damaged file is an error (sender.ErrDamaged,
// naming the file and what to do); a consistency check that outlives its
// timeout reports to the log when it ends.
func openStore(path string, logger *zap.Logger) (*sender.Outbox, error) {
	return sender.OpenOutbox(path, sender.OutboxOptions{
		LockTimeout: time.Millisecond,
		OnLateCheck: func(err error) {
			if err != nil {
				logger.Error("outbox consistency check failed after the outbox was opened", zap.String("store", path), zap.Error(err))
				return
			}
			logger.Info("outbox consistency check passed", zap.String("store", path))
		},
	})
}

// openExisting opens the outbox at path if the file exists (nil, nil if it
// does not), without waiting for another process's lock. A path that
// cannot be looked at (a file where a directory should be, no permission)
// and a damaged file are errors.
func openExisting(path string, logger *zap.Logger) (*sender.Outbox, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return openStore(path, logger)
}

func loadSender(path string, opts sender.Options, logger *zap.Logger) (*pooledSender, error) {
	v, _, err := senders.LoadOrNew(path, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithCancel(context.Background())
		p := &pooledSender{path: path, logger: logger, opts: opts, cancel: cancel,
			done: make(chan struct{}), started: make(chan struct{})}
		ob, err := openExisting(path, logger)
		switch {
		case err == nil && ob == nil:
			// Created by start: a config that is only validated must
			// not create files. Permissions are only known then.
			p.create = true
		case err == nil:
		case errors.Is(err, sender.ErrStoreLocked):
			p.locked = true
			logger.Warn("outbox file is locked by another process; opening it in the background, events are refused with 503 until then",
				zap.String("store", path))
		default:
			cancel()
			return nil, err
		}
		p.unregister = registry.AddStore(registry.KindOutbox, path, p.queue)
		go p.run(ctx, ob)
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*pooledSender), nil
}

// run gets the outbox if ob is nil (created by start, or opened once
// another process releases it), makes the sender, runs it from start until
// ctx ends, and closes the outbox.
func (p *pooledSender) run(ctx context.Context, ob *sender.Outbox) {
	defer close(p.done)
	defer recovery.Recover(p.logger, "sender.pool")
	if ob == nil && p.create {
		select {
		case <-ctx.Done():
			return
		case <-p.started:
		}
		p.mu.Lock()
		ob = p.created
		locked := p.locked
		p.mu.Unlock()
		if ob == nil && !locked {
			return // creating it failed: the config did not start
		}
	}
	if ob == nil {
		if ob = p.waitOpen(ctx); ob == nil {
			return
		}
	}
	defer ob.Close()
	p.mu.Lock()
	s, err := sender.New(ob, p.opts)
	if err != nil {
		p.mu.Unlock()
		p.logger.Error("starting the sender failed", zap.String("store", p.path), zap.Error(err))
		return
	}
	p.s, p.locked = s, false
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		return
	case <-p.started:
	}
	// A panic in Run is a bug, but it must not end the deliveries until
	// the next restart: Run starts again (it recovers the leases).
	if err := recovery.Loop(ctx, p.logger, "sender.run", s.Run); err != nil {
		p.logger.Error("sender stopped", zap.Error(err))
	}
}

// waitOpen retries opening the locked store until it succeeds (the outbox)
// or ctx ends (nil).
func (p *pooledSender) waitOpen(ctx context.Context) *sender.Outbox {
	start := time.Now()
	var lastError time.Time
	var lastOther string
	t := time.NewTicker(openRetryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ob, err := openStore(p.path, p.logger)
		if err == nil {
			p.logger.Info("outbox opened after waiting for its lock", zap.String("store", p.path),
				zap.Duration("waited", time.Since(start).Round(time.Millisecond)))
			return ob
		}
		if !errors.Is(err, sender.ErrStoreLocked) {
			// It was a valid store a moment ago: keep trying, loudly
			// (once per different error: a damaged file stays damaged
			// until it is moved aside).
			if msg := err.Error(); msg != lastOther {
				lastOther = msg
				p.logger.Error("opening the outbox failed; retrying", zap.String("store", p.path), zap.Error(err))
			}
			continue
		}
		if since := time.Since(start); since >= lockedErrorAfter && time.Since(lastError) >= lockedErrorEvery {
			lastError = time.Now()
			p.logger.Error("outbox file is still locked by another process; events are refused with 503 (is another scgate using the same store?)",
				zap.String("store", p.path), zap.Duration("waited", since.Round(time.Second)))
		}
	}
}

// queue returns the open sender for the dashboard, nil (not a nil
// *sender.Sender in the interface) while it is not open.
func (p *pooledSender) queue() registry.Queue {
	if s := p.Sender(); s != nil {
		return s
	}
	return nil
}

// Interface guard
var _ caddy.Destructor = (*pooledSender)(nil)
