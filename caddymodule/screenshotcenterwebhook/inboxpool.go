package screenshotcenterwebhook

import (
	"context"
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

	mu     sync.Mutex
	in     inbox.Engine // nil until started, and after Destruct
	logger *zap.Logger
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
}

// loadInbox returns the pooled inbox of b, taking a reference (under
// b.key()) that the handler's Cleanup drops.
func loadInbox(b inboxBackend) *pooledInbox {
	v, _, _ := inboxes.LoadOrNew(b.key(), func() (caddy.Destructor, error) {
		p := &pooledInbox{backend: b, name: b.name()}
		p.unregister = registry.AddStore(registry.KindInbox, p.name, p.sender)
		return p, nil
	})
	return v.(*pooledInbox)
}

// get returns the open inbox, or nil when no config using it has started.
func (p *pooledInbox) get() inbox.Engine {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.in
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
// created.
func (p *pooledInbox) start(st inbox.Settings, endpoint string, logger *zap.Logger) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endpoint.Store(&endpoint)
	if p.in != nil {
		return p.in.Reconfigure(st)
	}
	in, err := p.backend.open(st, inboxHooks{onAttempt: p.observeAttempt, onSettled: p.observeSettled}, logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.in, p.logger, p.cancel, p.done = in, logger, cancel, make(chan struct{})
	go p.run(ctx, in)
	return nil
}

// run delivers until ctx ends; a panic in the engine's loop is logged,
// counted and the loop started again (it recovers its leases).
func (p *pooledInbox) run(ctx context.Context, in inbox.Engine) {
	defer close(p.done)
	if err := recovery.Loop(ctx, p.logger, "inbox.run", in.Run); err != nil {
		p.logger.Error("inbox deliveries stopped", zap.String("store", p.name), zap.Error(err))
	}
}

// Destruct stops the deliveries (attempts in flight get the engine's stop
// grace, then are left pending for the next start) and closes the engine.
func (p *pooledInbox) Destruct() error {
	p.unregister()
	p.mu.Lock()
	in, cancel, done := p.in, p.cancel, p.done
	p.in = nil
	p.mu.Unlock()
	if in == nil {
		return nil // never started: nothing was opened
	}
	cancel()
	<-done
	return in.Close()
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
