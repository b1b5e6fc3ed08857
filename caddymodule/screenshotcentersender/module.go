// Package screenshotcentersender is the Caddy glue of the scgate sender: the
// http.handlers.screenshotcenter_sender handler (an outbound sidecar that
// signs and delivers events local applications hand it) and the `scgate
// send`, `scgate sign` and `scgate deliveries` subcommands. The delivery
// logic lives in the sender package, which does not import Caddy.
package screenshotcentersender

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/secret"
	"github.com/scgate/scgate/sender"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("screenshotcenter_sender", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("screenshotcenter_sender", httpcaddyfile.Before, "handle")
}

// DefaultMaxBody is the default largest accepted event body.
const DefaultMaxBody = 1 << 20

// DefaultStorePath returns the default outbox file, in Caddy's data
// directory.
func DefaultStorePath() string {
	return filepath.Join(caddy.AppDataDir(), "scgate", "outbox.db")
}

// Handler is an outbound sidecar: local applications POST an unsigned
// ScreenshotCenter event (a JSON object with a string "event") to it; it
// stores one delivery per matching endpoint durably in a bbolt outbox,
// answers 202 with the delivery ids, and delivers in the background, signed
// with each endpoint's secret, retried with exponential backoff.
//
// The destination is never taken from the request: only the configured
// endpoints are delivered to. Anything but POST is refused with 405. Bind
// the site to localhost (or a private socket): whoever can reach the
// handler can make the gateway sign events with your secrets.
//
// Answers: 202 with {"deliveries":[{"id":...,"endpoint":<index>}]} once
// every delivery is stored; 200 with an empty list when no endpoint takes
// the event; 400 for a body that is not a JSON object with an "event", or
// whose event differs from X-ScreenshotCenter-Event; 405; 413 over
// max_body; 415 for a non-JSON Content-Type; 503 with Retry-After if the
// outbox cannot store it, or is not open yet because another process holds
// its file (see Provision).
type Handler struct {
	// Endpoints are the destinations. At least one is required.
	Endpoints []*Endpoint `json:"endpoints,omitempty"`

	// Store is the path of the bbolt outbox file. bbolt locks it: one
	// scgate process per file (handlers in the same process that name the
	// same file share it). The file holds the endpoints' secrets next to
	// the deliveries and is created with mode 0600. Default:
	// scgate/outbox.db in Caddy's data directory.
	Store string `json:"store,omitempty"`

	// Workers bounds the attempts in flight for this store. Fixed when the
	// store is first opened; a reload does not change it. Default 8.
	Workers int `json:"workers,omitempty"`

	// PerEndpoint bounds the attempts in flight against one endpoint
	// (scheme and host). Fixed when the store is first opened. Default 4.
	PerEndpoint int `json:"per_endpoint,omitempty"`

	// Attempts is the attempt budget of a delivery, the first included.
	// Default 5.
	Attempts int `json:"attempts,omitempty"`

	// Backoff lists the waits before the second, third, ... attempt (the
	// last one repeats), each jittered by ±20%. Default 10s, 1m, 5m, 30m.
	Backoff []caddy.Duration `json:"backoff,omitempty"`

	// Retain is how long a delivery is kept once it is delivered, failed
	// or gone, counted from its last change; the running sidecar then
	// purges it, with its payload and attempt log, so the store does not
	// grow forever. Failed and gone deliveries are kept for the same
	// time, so they can still be retried by hand (`scgate deliveries
	// retry`) within it. Pending deliveries are never purged. Shared by
	// every handler of the store; the last loaded config wins. Default
	// 168h (7 days).
	Retain caddy.Duration `json:"retain,omitempty"`

	// Timeout bounds one attempt, reading the response included. Recorded
	// with each delivery this handler accepts, like the SSRF guard
	// settings below: they apply to this handler's deliveries only, even
	// when other handlers share the store. Default 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxBody is the largest accepted event body, in bytes. Default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// AllowCIDRs lists address prefixes the SSRF guard lets deliveries
	// connect to although they are loopback, private, link-local or
	// otherwise special (e.g. "10.1.2.0/24" for an internal receiver). The
	// guard checks the address actually dialed, after DNS resolution.
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`

	// AllowPrivate turns the SSRF guard off for this handler's deliveries:
	// its endpoints may resolve to any address. Other handlers sharing the
	// store keep their own guard. Only for endpoints you control. Default
	// false.
	AllowPrivate bool `json:"allow_private,omitempty"`

	net       sender.NetOptions
	storePath string
	pooled    *pooledSender
	app       *App
	logger    *zap.Logger
}

// Endpoint is one destination of a Handler.
type Endpoint struct {
	// URL is the absolute http or https URL deliveries are POSTed to.
	// Redirects are not followed.
	URL string `json:"url,omitempty"`

	// Secret is the HMAC-SHA256 signing secret. Write it as a placeholder
	// such as `{env.SCREENSHOTCENTER_WEBHOOK_SECRET}` or
	// `{file./run/secrets/x}`: it is resolved when the config is
	// provisioned, so it does not appear in the config itself. An unknown
	// placeholder (a typo such as `{evn.X}`) and a placeholder that
	// resolves to an empty string, even as part of the secret, are config
	// errors; write a literal brace as `\{`. The resolved secret is
	// stored with each delivery in the outbox file; it is never logged.
	Secret string `json:"secret,omitempty"`

	// Events, if set, is the list of event names delivered to this
	// endpoint; others are not. Default: every event.
	Events []string `json:"events,omitempty"`

	secret []byte
	events map[string]struct{}
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.screenshotcenter_sender",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, resolves secrets, gets (opening it on first
// use) the outbox from the usage pool and registers it with this config's
// scgate_sender app. It has no other side effect: the workers, the purge,
// the recovery of interrupted attempts and the settings of the running
// sender wait for the app's Start, so `caddy validate` and a rejected
// reload change nothing. It never waits for the store's lock: if another
// process holds the file (a running gateway while `caddy validate` runs,
// or the old process during a restart), the outbox is opened in the
// background as soon as it is released, and events are refused with 503
// and Retry-After until then. Any other error opening the store
// (permissions, a corrupt file) is a config error.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.Retain == 0 {
		h.Retain = caddy.Duration(sender.DefaultRetention)
	}
	repl := caddy.NewReplacer()
	for i, ep := range h.Endpoints {
		if ep == nil {
			continue
		}
		if ep.Secret != "" {
			v, err := secret.Resolve(ep.Secret)
			if err != nil {
				return fmt.Errorf("endpoint %d: secret %w", i, err)
			}
			ep.secret = v
		}
		if len(ep.Events) > 0 {
			ep.events = make(map[string]struct{}, len(ep.Events))
			for _, e := range ep.Events {
				ep.events[e] = struct{}{}
			}
		}
	}
	// Leave the rest to Validate when the config is already wrong: a bad
	// config must not open (and lock) the store.
	if err := h.check(); err != nil {
		return nil
	}
	path := h.Store
	if path == "" {
		path = DefaultStorePath()
	}
	abs, err := filepath.Abs(repl.ReplaceKnown(path, ""))
	if err != nil {
		return err
	}
	// Recorded with each delivery: the guard and timeout of this handler
	// apply to its deliveries only, whatever else shares the store.
	h.net = sender.NetOptions{AllowAll: h.AllowPrivate, Allow: h.AllowCIDRs, Timeout: time.Duration(h.Timeout)}
	if h.net.Timeout <= 0 {
		h.net.Timeout = sender.DefaultTimeout
	}
	if h.app == nil {
		app, err := ctx.App(appID)
		if err != nil {
			return err
		}
		h.app = app.(*App)
	}
	st := settings{Schedule: h.schedule(), Retention: time.Duration(h.Retain)}
	opts := sender.Options{
		Workers:     h.Workers,
		PerEndpoint: h.PerEndpoint,
		Schedule:    st.Schedule,
		Logger:      h.logger.Named("delivery").With(zap.String("store", abs)),
		Retention:   st.Retention,
	}
	p, err := loadSender(abs, opts, h.logger)
	if err != nil {
		return err
	}
	h.storePath, h.pooled = abs, p
	// Applied when the config starts; the last handler of the store wins
	// for the schedule and retention.
	h.app.register(p, st)
	return nil
}

func (h *Handler) schedule() sender.Schedule {
	s := sender.Schedule{MaxAttempts: h.Attempts}
	for _, d := range h.Backoff {
		s.Delays = append(s.Delays, time.Duration(d))
	}
	return s
}

// Validate checks the provisioned config.
func (h *Handler) Validate() error {
	if err := h.check(); err != nil {
		return err
	}
	if h.pooled == nil {
		return errors.New("outbox was not opened")
	}
	return nil
}

// check reports the first config error, without side effects.
func (h *Handler) check() error {
	if len(h.Endpoints) == 0 {
		return errors.New("at least one endpoint is required")
	}
	for i, ep := range h.Endpoints {
		if ep == nil {
			return fmt.Errorf("endpoint %d is empty", i)
		}
		if err := sender.CheckURL(ep.URL); err != nil {
			return fmt.Errorf("endpoint %d: %w", i, err)
		}
		if ep.Secret == "" {
			return fmt.Errorf("endpoint %d: a secret is required", i)
		}
		if len(ep.secret) == 0 {
			// Say which one, never what it holds.
			return fmt.Errorf("endpoint %d: secret is empty after resolving placeholders (is the variable or file set?)", i)
		}
		for _, e := range ep.Events {
			if e == "" {
				return fmt.Errorf("endpoint %d: events must not contain an empty name", i)
			}
		}
	}
	if h.Workers < 0 || h.PerEndpoint < 0 || h.Attempts < 0 {
		return errors.New("workers, per_endpoint and attempts must be positive")
	}
	if h.Timeout < 0 || h.MaxBody < 0 || h.Retain < 0 {
		return errors.New("timeout, max_body and retain must be positive")
	}
	for _, d := range h.Backoff {
		if d <= 0 {
			return errors.New("backoff durations must be positive")
		}
	}
	if _, err := sender.NewGuard(h.AllowCIDRs...); err != nil {
		return err
	}
	return nil
}

// Cleanup releases this config's reference to the outbox; the last
// reference stops the workers and closes the file. Safe on a
// half-provisioned handler and when repeated.
func (h *Handler) Cleanup() error {
	if h.storePath == "" {
		return nil
	}
	key := h.storePath
	h.storePath, h.pooled = "", nil
	_, err := senders.Delete(key)
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
