package screenshotcentersender

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(new(App))
}

// appID is the ID of the App: each handler obtains it with ctx.App, which
// makes Caddy instantiate it (no config needed) and start it with the
// config that holds the handler.
const appID = "scgate_sender"

// App starts the delivery side of the screenshotcenter_sender handlers of
// a config when Caddy runs that config, not when it merely provisions it:
// `caddy validate` and a reload that Caddy rejects provision handlers (and
// clean them up) without starting anything, so they must not send, lease,
// recover or purge, nor change the running sender's settings. Handlers
// register their store and settings with it in Provision; Start applies
// the settings (the last registered handler of a store wins for its
// schedule and retention) and starts that store's workers and purge if
// they are not running yet. The workers belong to the pooled sender, which
// outlives a reload: Stop leaves them alone, and the pool's Destruct stops
// them once the last config using the store is cleaned up.
//
// It needs no configuration; Caddy adds it to any config with a
// screenshotcenter_sender handler.
type App struct {
	mu      sync.Mutex
	regs    []registration
	started bool
	logger  *zap.Logger
}

// registration is one handler's store and settings.
type registration struct {
	pooled   *pooledSender
	settings settings
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  appID,
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets up the logger.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// register records a handler's store and settings, applied by Start. A
// handler provisioned after Start (not done by Caddy) is applied at once.
func (a *App) register(p *pooledSender, s settings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.regs = append(a.regs, registration{pooled: p, settings: s})
	if a.started {
		p.configure(s)
		if err := p.start(); err != nil {
			a.logger.Error("creating the outbox failed", zap.String("store", p.Path()), zap.Error(err))
		}
	}
}

// Start applies the registered settings, creates the stores that did not
// exist yet, and starts the stores' workers. A store that cannot be
// created fails the start of the config.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.regs {
		r.pooled.configure(r.settings)
	}
	for _, r := range a.regs {
		if err := r.pooled.start(); err != nil {
			return fmt.Errorf("creating the outbox: %w", err)
		}
	}
	a.started = true
	return nil
}

// Stop does nothing: the workers belong to the pooled sender, which a
// newer config may still use; the pool stops them when no config does.
func (a *App) Stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.started = false
	return nil
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
