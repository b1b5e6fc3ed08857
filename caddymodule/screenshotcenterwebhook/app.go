package screenshotcenterwebhook

import (
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/caddymodule/internal/secret"
	"github.com/scgate/scgate/dedupe"
)

func init() {
	caddy.RegisterModule(new(App))
}

// appID is the ID of the App: each handler with a store obtains it with
// ctx.App, which makes Caddy instantiate it (no config needed) for the
// config that holds the handler and start it with that config.
const appID = "scgate_webhook"

// App sees the screenshotcenter_webhook handlers of one config together:
//   - In Provision, a handler registers its endpoint (store and namespace).
//     Two handlers that would share dedupe keys without having asked for
//     it are a config error, since each would answer the other's events as
//     duplicates.
//   - Start starts the handlers' stores (connects to Redis, loads the
//     memory snapshot), opens their inboxes and applies their max_keys
//     and evict_warn_age to the shared memory store when the config
//     starts serving, not when it is provisioned: a config that `caddy
//     validate` checks, or that a reload rejects before it starts,
//     touches no server, snapshot or inbox file and changes nothing. A store a running config shares is started already
//     and is left as it is.
//
// It needs no configuration.
type App struct {
	mu        sync.Mutex
	endpoints map[string]*Handler // by endpointID
	handlers  []*Handler
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  appID,
		New: func() caddy.Module { return new(App) },
	}
}

// register records h's endpoint, refusing one that another handler of the
// config already has unless both chose that namespace.
func (a *App) register(h *Handler) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.endpoints == nil {
		a.endpoints = make(map[string]*Handler)
	}
	a.handlers = append(a.handlers, h)
	if h.inbox != nil {
		for _, other := range a.handlers[:len(a.handlers)-1] {
			if other.inbox == h.inbox {
				return fmt.Errorf("screenshotcenter_webhook handlers %s and %s use the same inbox store %s: give each its own inbox store",
					a.describe(other), a.describe(h), h.inbox.name)
			}
		}
	}
	if h.store == nil {
		return nil
	}
	id := h.endpointID()
	other, taken := a.endpoints[id]
	if !taken {
		a.endpoints[id] = h
		return nil
	}
	if other.Dedupe.Namespace != "" && h.Dedupe.Namespace != "" {
		return nil // one endpoint reached through two handlers, by choice
	}
	return fmt.Errorf("screenshotcenter_webhook handlers %s and %s share the %s dedupe store with the same namespace (%q): "+
		"each would answer the other's events as duplicates. Give each endpoint its own dedupe namespace, "+
		"or the same explicit namespace to both if they are one endpoint",
		a.describe(other), a.describe(h), h.Dedupe.Backend, h.keyer.Namespace)
}

// describe names a handler for an error: its place in the config and its
// first secret, if that is a placeholder (never a value).
func (a *App) describe(h *Handler) string {
	n := 0
	for i, x := range a.handlers {
		if x == h {
			n = i + 1
		}
	}
	d := fmt.Sprintf("#%d", n)
	if len(h.Secrets) > 0 && !secret.IsLiteral(h.Secrets[0]) {
		d += " (secret " + h.Secrets[0] + ")"
	}
	return d
}

// Start starts the stores of the config's handlers that are not running
// yet (a store a running config shares is left as it is): first it loads
// the memory snapshots, so that one that cannot be loaded fails the start
// before anything else changed, and Caddy refuses the config (a reload
// keeps the running one); then it opens the inboxes and runs their
// deliveries (an inbox already open gets this config's settings), an
// inbox that cannot be opened failing the start likewise; then the Redis
// stores connect, in the background. Then it applies max_buffered and max_buffered_per_client to
// the process's body budget, max_streams_per_connection to its stream
// bound, event_log to its event log (the largest wins), and max_keys and
// evict_warn_age to the memory stores of the config's handlers (the last
// handler wins when they disagree).
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.handlers {
		if p, ok := h.store.(*dedupe.PersistedStore); ok {
			if err := p.Start(); err != nil {
				return err
			}
		}
	}
	for _, h := range a.handlers {
		if h.inbox != nil {
			if err := h.inbox.start(h.inboxSettings, h.endpoint(), h.logger.Named("inbox")); err != nil {
				return err
			}
		}
	}
	for _, h := range a.handlers {
		if r, ok := h.store.(*dedupe.RedisStore); ok {
			r.Start()
		}
	}
	for _, h := range a.handlers {
		bodyBudget.SetLimits(h.MaxBuffered, h.MaxBufferedPerClient)
		bodyStreams.SetLimit(h.MaxStreamsPerConnection)
	}
	sizeEventLog(a.handlers)
	for _, h := range a.handlers {
		if ms := memoryStore(h.store); ms != nil {
			ms.SetMaxKeys(h.Dedupe.MaxKeys)
			ms.OnEvict(h.evicted)
		}
	}
	return nil
}

// Stop does nothing: the stores belong to the pool, which a newer config
// may still use.
func (a *App) Stop() error { return nil }

// endpointID identifies the keys a handler claims: its store and namespace.
func (h *Handler) endpointID() string {
	store := h.poolKey
	if h.Dedupe.Redis != nil {
		store += "\x00" + h.Dedupe.Redis.KeyPrefix
	}
	return strings.Join([]string{store, h.keyer.Namespace}, "\x00")
}

// Interface guard
var _ caddy.App = (*App)(nil)
