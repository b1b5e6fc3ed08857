package screenshotcenterwebhook

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/internal/recovery"
	"github.com/scgate/scgate/sender"
)

// inboxes holds one inbox per backend (inboxBackend.key: a bbolt file, a
// JetStream inbox) across config reloads: a reload provisions the new
// config (taking a reference) before the old one's Cleanup drops its own,
// so the engine stays open (a file its lock held) and its deliveries
// running. bbolt locks the file: one process per file.
var inboxes = caddy.NewUsagePool()

// inboxLockTimeout is how long opening an inbox waits for another process
// to release the file (an old process still stopping) before the config's
// start fails. A variable for tests.
var inboxLockTimeout = 10 * time.Second

// pooledInbox is the inbox of one backend. Provision takes it from the
// pool without opening anything; the first config using it that starts
// opens the engine and runs the deliveries (start), later ones
// reconfigure them, and the pool's Destruct, when the last config using
// it is cleaned up, stops the deliveries and then closes the engine.
type pooledInbox struct {
	backend inboxBackend
	// name is backend.name(): the store as shown.
	name string
	// endpoint is the endpoint label of the handler that last started it,
	// for the metrics of its attempts.
	endpoint atomic.Pointer[string]

	// unregister takes the inbox off the dashboard's registry.
	unregister func()

	// in is the open engine: nil until started (or, for a backend that
	// heals, until its server could be reached), and after Destruct.
	in atomic.Pointer[openEngine]

	mu       sync.Mutex
	started  bool
	settings inbox.Settings // of the config that started last
	// applying is set while settings wait for an engine that heals to
	// take them (applyLater).
	applying bool
	logger   *zap.Logger
	ctx      context.Context // of the deliveries: ends with Destruct
	cancel   context.CancelFunc
	done     chan struct{} // closed when the deliveries have stopped
}

// openEngine boxes an engine for an atomic pointer.
type openEngine struct{ inbox.Engine }

// inboxRetryEvery is how often a backend that heals is tried again while
// it cannot be opened, and its deliveries after they stopped on an error.
// A variable for tests.
var inboxRetryEvery = time.Second

// loadInbox returns the pooled inbox of b, taking a reference (under
// b.key()) that the handler's Cleanup drops. Only the bbolt inbox is on
// the dashboard, which reads a sender.
func loadInbox(b inboxBackend) *pooledInbox {
	v, _, _ := inboxes.LoadOrNew(b.key(), func() (caddy.Destructor, error) {
		p := &pooledInbox{backend: b, name: b.name(), unregister: func() {}}
		if _, ok := b.(boltInbox); ok {
			p.unregister = registry.AddStore(registry.KindInbox, p.name, p.sender)
		}
		return p, nil
	})
	return v.(*pooledInbox)
}

// get returns the open inbox, or nil when it is not open.
func (p *pooledInbox) get() inbox.Engine {
	if o := p.in.Load(); o != nil {
		return o.Engine
	}
	return nil
}

// sender returns the open inbox's sender, nil while it is not open.
func (p *pooledInbox) sender() *sender.Sender {
	if in := p.get(); in != nil {
		return engineSender(in)
	}
	return nil
}

// start applies the settings of a config that starts: it opens the engine
// (a bbolt file is created, mode 0600 in a 0700 directory) and runs the
// deliveries the first time, and reconfigures the running inbox after
// that. An error fails the config's start: a file that another process
// holds past inboxLockTimeout, a damaged file, a directory that cannot be
// created. A backend that heals and cannot be reached does not fail it:
// it is opened, or given the new settings, in the background every
// inboxRetryEvery; meanwhile events are answered 503 inbox_unavailable
// (or, open, keep the settings they had).
func (p *pooledInbox) start(st inbox.Settings, endpoint string, logger *zap.Logger) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endpoint.Store(&endpoint)
	p.settings = st
	if in := p.get(); in != nil {
		err := in.Reconfigure(st)
		if err == nil || !p.backend.heals() {
			return err
		}
		// The server cannot take them now: the reload goes on, and the
		// settings apply once it can.
		logger.Warn("inbox settings not applied yet: the engine cannot take them; trying again in the background",
			zap.String("store", p.name), zap.Error(err))
		if !p.applying {
			p.applying = true
			go p.applyLater(in)
		}
		return nil
	}
	if p.started {
		return nil // being opened in the background: it takes p.settings
	}
	in, err := p.backend.open(st, p.hooks(), logger)
	if err != nil {
		if !p.backend.heals() {
			return err
		}
		logger.Error("inbox engine unavailable: events are answered 503 inbox_unavailable until it can be reached; trying again in the background",
			zap.String("store", p.name), zap.Error(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.started, p.logger, p.ctx, p.cancel, p.done = true, logger, ctx, cancel, make(chan struct{})
	if in != nil {
		p.in.Store(&openEngine{in})
	}
	go p.run(ctx, in)
	return nil
}

func (p *pooledInbox) hooks() inboxHooks {
	return inboxHooks{onAttempt: p.observeAttempt, onSettled: p.observeSettled}
}

// run delivers until ctx ends; a panic in the engine's loop is logged,
// counted and the loop started again (it recovers its leases). For a
// backend that heals, it first opens the engine if start could not, and
// runs the deliveries again if they stop on an error.
func (p *pooledInbox) run(ctx context.Context, in inbox.Engine) {
	defer close(p.done)
	for {
		if in == nil {
			if in = p.reopen(ctx); in == nil {
				return
			}
		}
		err := recovery.Loop(ctx, p.logger, "inbox.run", in.Run)
		if ctx.Err() != nil {
			return
		}
		if err == nil || !p.backend.heals() {
			if err != nil {
				p.logger.Error("inbox deliveries stopped", zap.String("store", p.name), zap.Error(err))
			}
			return
		}
		p.logger.Warn("inbox deliveries stopped; starting them again", zap.String("store", p.name), zap.Error(err))
		if !sleepCtx(ctx, inboxRetryEvery) {
			return
		}
	}
}

// reopen opens the engine, trying every inboxRetryEvery until it opens
// (then it is p.in) or ctx ends (then it returns nil).
func (p *pooledInbox) reopen(ctx context.Context) inbox.Engine {
	last := ""
	for sleepCtx(ctx, inboxRetryEvery) {
		p.mu.Lock()
		st, logger := p.settings, p.logger
		p.mu.Unlock()
		in, err := p.backend.open(st, p.hooks(), logger)
		if err != nil {
			if msg := err.Error(); msg != last {
				last = msg
				logger.Warn("inbox engine still unavailable", zap.String("store", p.name), zap.Error(err))
			}
			continue
		}
		p.mu.Lock()
		if ctx.Err() != nil { // Destruct came first
			p.mu.Unlock()
			in.Close()
			return nil
		}
		if !reflect.DeepEqual(st, p.settings) { // a config started meanwhile
			if err := in.Reconfigure(p.settings); err != nil {
				logger.Error("inbox settings of the last config not applied", zap.String("store", p.name), zap.Error(err))
			}
		}
		p.in.Store(&openEngine{in})
		p.mu.Unlock()
		logger.Info("inbox engine open", zap.String("store", p.name))
		return in
	}
	return nil
}

// applyLater applies the latest settings to in every inboxRetryEvery
// until it takes them or the inbox is destroyed.
func (p *pooledInbox) applyLater(in inbox.Engine) {
	for sleepCtx(p.ctx, inboxRetryEvery) {
		p.mu.Lock()
		err := in.Reconfigure(p.settings)
		if err == nil {
			p.applying = false
			p.mu.Unlock()
			p.logger.Info("inbox settings applied", zap.String("store", p.name))
			return
		}
		p.mu.Unlock()
	}
}

// sleepCtx waits for d, or returns false once ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Destruct stops the deliveries (attempts in flight get the engine's stop
// grace, then are left pending for the next start) and closes the engine.
func (p *pooledInbox) Destruct() error {
	p.unregister()
	p.mu.Lock()
	o := p.in.Swap(nil)
	started, cancel, done := p.started, p.cancel, p.done
	if started {
		cancel()
	}
	p.mu.Unlock()
	if !started {
		return nil // never started: nothing was opened
	}
	<-done
	if o == nil {
		return nil
	}
	return o.Close()
}

// observeAttempt counts an attempt by what it led to and its status class.
func (p *pooledInbox) observeAttempt(_ *inbox.Entry, a inbox.Attempt) {
	metricInboxAttempts.WithLabelValues(*p.endpoint.Load(), string(a.Outcome), a.Kind).Inc()
}

// observeSettled records the delivery latency of a delivered entry: from
// when it was queued (or replayed) to its 2xx.
func (p *pooledInbox) observeSettled(e *inbox.Entry, latency time.Duration) {
	if e.State == inbox.StateDelivered {
		metricInboxLatency.WithLabelValues(*p.endpoint.Load()).Observe(latency.Seconds())
	}
}

// Interface guard
var _ caddy.Destructor = (*pooledInbox)(nil)
