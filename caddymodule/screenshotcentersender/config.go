package screenshotcentersender

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/caddymodule/internal/secret"
	"github.com/scgate/scgate/scheme"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/webhook"
)

// maxMaxBody is the largest max_body accepted: 1 TiB.
const maxMaxBody = 1 << 40

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
// the site to loopback (`bind 127.0.0.1`) or a private socket: whoever can
// reach the handler can make the gateway sign events with your secrets; a
// site that listens beyond loopback without allowed_hosts is warned about
// at load. Only requests whose Host is a loopback name or address or in
// allowed_hosts are taken (host.go), which stops DNS rebinding; browser
// pages of other origins are refused (crosssite.go): they could otherwise
// post to localhost from any page the operator opens.
//
// Answers: 421 with {"status":421,"reason":"host_not_allowed"} for
// another Host (before anything else is looked at); 202 with {"deliveries":[{"id":...,"endpoint":<index>}]} once
// every delivery is stored; 200 with an empty list when no endpoint takes
// the event; 400 for a body that is not a JSON object with an "event", or
// whose event differs from X-ScreenshotCenter-Event; 403 when Origin or
// Sec-Fetch-Site shows a browser page of another origin; 405; 413 over
// max_body; 415 unless the Content-Type is application/json; 503 with
// Retry-After if the outbox cannot store it, or is not open yet because
// another process holds its file (see Provision).
//
// Every option has one name in the Caddyfile, the JSON config and the
// sender package's Go API. A zero (or absent) number or duration means its
// default. Every rule a config must follow is in check, which Provision
// runs for JSON and Caddyfile configs alike.
type Handler struct {
	// Scheme is how the deliveries are signed: "screenshotcenter" (the
	// default), or another provider's scheme as the receiver's scheme
	// option names them ("github", "stripe", "shopify", …). With another
	// scheme the sidecar takes the body that provider would send (checked
	// as that scheme's receiver reads it: a Stripe event's id and type),
	// with the provider's event header where it has one (X-GitHub-Event,
	// X-Shopify-Topic) on the request; every attempt carries that
	// provider's signature headers, made anew for the attempt, and each
	// endpoint's secret is in that scheme's format (Stripe's whsec_).
	Scheme string `json:"scheme,omitempty"`

	// Endpoints are the destinations; each event goes to every endpoint
	// whose events filter takes it. At least one is required.
	Endpoints []*Endpoint `json:"endpoints,omitempty"`

	// Store is the path of the bbolt outbox file; placeholders known at
	// provision time (such as {env.X}) are replaced. bbolt locks the file:
	// one scgate process per file (handlers in the same process that name
	// the same file share it). The file holds the endpoints' secrets next
	// to the deliveries and is created with mode 0600 in a 0700
	// directory. Default: scgate/outbox.db in Caddy's data directory.
	Store string `json:"store,omitempty"`

	// Workers bounds the attempts in flight for this store. A reload
	// applies a new value to the attempts started after it (a lower one
	// lets those in flight finish). Handlers sharing a store share one
	// bound: the last loaded sets it. Default 8.
	Workers int `json:"workers,omitempty"`

	// PerEndpoint bounds the attempts in flight against one endpoint
	// (scheme and host), so that one slow receiver cannot take every
	// worker. A reload applies it as for Workers. Default 4.
	PerEndpoint int `json:"per_endpoint,omitempty"`

	// Attempts is the attempt budget of a delivery, the first included;
	// then it is failed (and can be retried by hand). Recorded with each
	// delivery. Default 5.
	Attempts int `json:"attempts,omitempty"`

	// Backoff lists the waits before the second, third, ... attempt (the
	// last one repeats), each jittered by ±20%; each must be positive. A
	// Retry-After of a 429 or 503 answer makes a wait longer, up to 1h.
	// Shared by every handler of the store; the last loaded config wins.
	// Default 10s, 1m, 5m, 30m.
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

	// Timeout bounds one attempt, from dialing to reading the response
	// (at most 16 KiB of it is kept). Recorded with each delivery this
	// handler accepts, like the SSRF guard settings below: they apply to
	// this handler's deliveries only, even when other handlers share the
	// store. Default 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// MaxBody is the largest accepted event body, in bytes, at most 1 TiB;
	// a larger one is answered 413. Default 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// Allow lists address prefixes (CIDR, e.g. "10.1.2.0/24" for an
	// internal receiver) that the SSRF guard lets this handler's
	// deliveries connect to although they are loopback, private,
	// link-local or otherwise special-purpose. The guard checks the
	// address actually dialed, after DNS resolution, so a name that
	// resolves into an allowed prefix is allowed too: keep the prefixes
	// narrow. Default: none.
	Allow []string `json:"allow,omitempty"`

	// AllowPrivate turns the SSRF guard off for this handler's deliveries:
	// its endpoints may resolve to any address, including cloud metadata
	// services (169.254.169.254) and the gateway's own admin endpoint.
	// Other handlers sharing the store keep their own guard. Only for
	// endpoints you control. Default false.
	AllowPrivate bool `json:"allow_private,omitempty"`

	// AllowedHosts lists the host names or IP addresses (no port, no
	// scheme, no wildcard; compared without case) that requests may name
	// in their Host header besides the loopback ones (localhost,
	// 127.0.0.0/8, ::1), which are always taken. Any other Host is refused
	// with 421 and the reason host_not_allowed: a page of another site
	// that DNS rebinding pointed at 127.0.0.1 sends its own name, so this
	// stops it from having events signed. List a name here only when
	// local clients reach the sidecar by it (a container network's
	// service name). Naming hosts also says the site is meant to be
	// reachable beyond loopback: without allowed_hosts, a site that
	// listens beyond loopback is warned about at load. It does not
	// restrict who can connect: bind the site to loopback (`bind
	// 127.0.0.1`) or a private network. Default: none.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`

	net       sender.NetOptions
	scheme    scheme.Scheme // Scheme (ScreenshotCenter's by default) built with the first endpoint's secret, to read requests
	hostSet   map[string]struct{}
	storePath string
	storeAbs  string // the configured store, resolved and absolute (prepare)
	pooled    *pooledSender
	app       *App
	logger    *zap.Logger
}

// Endpoint is one destination of a Handler.
type Endpoint struct {
	// URL is the absolute http or https URL deliveries are POSTed to.
	// Redirects are not followed (a 3xx answer is a failed attempt).
	// Required.
	URL string `json:"url,omitempty"`

	// Secret is the HMAC-SHA256 signing secret. Write it as a placeholder
	// such as `{env.SCREENSHOTCENTER_WEBHOOK_SECRET}` or
	// `{file./run/secrets/x}`: it is resolved when the config is
	// provisioned, so it does not appear in the config itself (a literal
	// secret is readable in GET /config/ and autosave.json). Only {env.*},
	// {file.*} and literal text may make a secret; any other placeholder
	// ({system.os}: guessable), an unknown one (a typo such as `{evn.X}`),
	// a placeholder that resolves to an empty string, even as part of the
	// secret, and a resolved secret shorter than 16 bytes or only
	// whitespace are config errors; write a literal brace as `\{`. The resolved secret is
	// stored with each delivery in the outbox file; it is never logged.
	// Required.
	Secret string `json:"secret,omitempty"`

	// Events, if set, is the list of event names delivered to this
	// endpoint; others are not. Default: every event.
	Events []string `json:"events,omitempty"`

	secret []byte
	events map[string]struct{}
}

// takes reports whether the endpoint delivers events named name.
func (ep *Endpoint) takes(name string) bool {
	if ep.events == nil {
		return true
	}
	_, ok := ep.events[name]
	return ok
}

// prepare resolves the secrets and the events filters, checks the config
// and sets the defaults; Provision runs it before anything else.
func (h *Handler) prepare() error {
	for i, ep := range h.Endpoints {
		if ep == nil {
			continue // check reports it
		}
		if ep.Secret != "" {
			v, sch, err := h.resolveSecret(ep.Secret)
			if err != nil {
				return fmt.Errorf("endpoint %d: secret %w", i, err)
			}
			ep.secret = v
			if i == 0 {
				// Any endpoint's secret reads requests alike: Read uses none.
				h.scheme = sch
			}
		}
		if len(ep.Events) > 0 {
			ep.events = make(map[string]struct{}, len(ep.Events))
			for _, e := range ep.Events {
				ep.events[e] = struct{}{}
			}
		}
	}
	opts, err := h.check()
	if err != nil {
		return err
	}
	h.hostSet = opts.hostSet
	store, err := h.storeFile()
	if err != nil {
		return err
	}
	h.storeAbs = store
	if h.MaxBody == 0 {
		h.MaxBody = webhook.DefaultMaxBody
	}
	if h.Retain == 0 {
		h.Retain = caddy.Duration(sender.DefaultRetain)
	}
	return nil
}

// resolveSecret resolves an endpoint's secret and checks it in the
// handler's scheme's format (ScreenshotCenter's: secret.Resolve), and
// that it can sign; it returns the handler's scheme built with it (nil
// when it resolved to nothing, which check reports). Errors read after
// "secret".
func (h *Handler) resolveSecret(s string) ([]byte, scheme.Scheme, error) {
	name := scheme.ScreenshotCenter
	var v []byte
	var err error
	if h.otherScheme() {
		if !slices.Contains(scheme.Names(), h.Scheme) {
			return nil, nil, fmt.Errorf("cannot be checked: scheme must be one of %s, got %q", strings.Join(scheme.Names(), ", "), h.Scheme)
		}
		name = h.Scheme
		v, err = secret.ResolveValue(s)
	} else {
		v, err = secret.Resolve(s)
	}
	if err != nil || len(v) == 0 {
		return v, nil, err
	}
	sch, err := sender.SigningScheme(name, v)
	if err != nil {
		if fe, ok := errors.AsType[*scheme.SecretFormatError](err); ok {
			return nil, nil, fe.Err
		}
		return nil, nil, err
	}
	return v, sch, nil
}

// otherScheme reports whether the deliveries are signed with another
// scheme than ScreenshotCenter's.
func (h *Handler) otherScheme() bool { return h.Scheme != "" && h.Scheme != scheme.ScreenshotCenter }

// parsedOptions are the options that check parsed: prepare keeps them, so
// that each is parsed once, in check.
type parsedOptions struct {
	// hostSet is AllowedHosts parsed (allowedHostSet).
	hostSet map[string]struct{}
}

// check reports the first config error, without side effects, and
// returns the options it parsed. It is the one place of every rule: the
// Caddyfile parser only turns tokens into fields, so a JSON config is held
// to exactly the same rules.
func (h *Handler) check() (parsedOptions, error) {
	var opts parsedOptions
	err := h.checkInto(&opts)
	return opts, err
}

// checkInto is check, filling opts as it parses.
func (h *Handler) checkInto(opts *parsedOptions) error {
	if len(h.Endpoints) == 0 {
		return errors.New("at least one endpoint is required")
	}
	if h.Scheme != "" && !slices.Contains(scheme.Names(), h.Scheme) {
		return fmt.Errorf("scheme must be one of %s, got %q", strings.Join(scheme.Names(), ", "), h.Scheme)
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
	if h.Timeout < 0 || h.Retain < 0 {
		return errors.New("timeout and retain must be positive")
	}
	if h.MaxBody < 0 || h.MaxBody > maxMaxBody {
		return fmt.Errorf("max_body must be between 1 byte and 1 TiB, got %d", h.MaxBody)
	}
	for _, d := range h.Backoff {
		if d <= 0 {
			return errors.New("backoff durations must be positive")
		}
	}
	if _, err := sender.NewGuard(h.Allow...); err != nil {
		return err
	}
	hosts, err := allowedHostSet(h.AllowedHosts)
	if err != nil {
		return err
	}
	opts.hostSet = hosts
	return nil
}

// hosts returns the host label of every endpoint.
func (h *Handler) hosts() []string {
	out := make([]string, 0, len(h.Endpoints))
	for _, ep := range h.Endpoints {
		out = append(out, endpointHost(ep.URL))
	}
	return out
}

// storeFile returns the absolute path of the outbox file.
func (h *Handler) storeFile() (string, error) {
	path := h.Store
	if path == "" {
		path = DefaultStorePath()
	}
	path, err := placeholder.Field("store", path)
	if err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

// netOptions are the network settings recorded with each delivery: the
// guard and timeout of this handler apply to its deliveries only, whatever
// else shares the store.
func (h *Handler) netOptions() sender.NetOptions {
	n := sender.NetOptions{AllowPrivate: h.AllowPrivate, Allow: h.Allow, Timeout: time.Duration(h.Timeout)}
	if n.Timeout <= 0 {
		n.Timeout = sender.DefaultTimeout
	}
	return n
}

// settings are the store-wide settings this handler sets when its config
// starts.
func (h *Handler) settings() settings {
	s := sender.Schedule{Attempts: h.Attempts}
	for _, d := range h.Backoff {
		s.Backoff = append(s.Backoff, time.Duration(d))
	}
	return settings{Schedule: s, Retain: time.Duration(h.Retain), Workers: h.Workers, PerEndpoint: h.PerEndpoint}
}
