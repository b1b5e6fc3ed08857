// Package screenshotcenterwebhook is the Caddy glue of the scgate receiver: the
// http.handlers.screenshotcenter_webhook handler, its Caddyfile directive and
// its metrics. The logic it calls lives in the verifier, webhook, gateway and
// dedupe packages, which do not import Caddy.
package screenshotcenterwebhook

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/secret"
	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("screenshotcenter_webhook", parseCaddyfile)
	// "handle" comes after basic_auth, forward_auth and request_header and
	// before route and reverse_proxy: the gateway then needs no global
	// `order` option and always runs before the handler it protects.
	httpcaddyfile.RegisterDirectiveOrder("screenshotcenter_webhook", httpcaddyfile.Before, "handle")
}

// Defaults.
const (
	DefaultMaxBody         = 1 << 20
	DefaultTTL             = 72 * time.Hour
	DefaultInflightTimeout = 60 * time.Second
)

// Dedupe backends.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	BackendOff    = "off"
)

// DefaultSignatureHeaders are the headers searched for a signature, in order.
var DefaultSignatureHeaders = []string{webhook.HeaderSignature, webhook.HeaderSignatureAlt}

// Handler verifies, dedupes and forwards ScreenshotCenter webhooks. It sits in
// front of an existing handler (usually reverse_proxy) and passes on only
// correctly signed, well-formed, first-seen events, with the body byte for
// byte and every original header, signature included.
//
// Requests are handled in this order; nothing is forwarded unless stated:
//
//  1. A method other than POST: 405 with Allow: POST.
//  2. A body larger than max_body (by Content-Length or while reading): 413.
//  3. No signature header, a malformed one, or no secret matches: 401.
//     Verification runs before any parsing or dedupe lookup.
//  4. A body that is not a JSON object, has no string "event", repeats (or
//     spells in another case) a top-level event, screenshot_id, batch_id or
//     created_at key, or whose event differs from X-ScreenshotCenter-Event: 400.
//  5. max_age set and created_at missing, invalid, too old or more than five
//     minutes in the future: 401.
//  6. events set and the event not in it: 200, not forwarded.
//  7. The dedupe key already delivered: 200 with X-Scgate-Outcome: duplicate;
//     a copy in flight: 409 with Retry-After; the store full: 503 with
//     Retry-After. The store unavailable (Redis down or slower than its
//     timeout): 503 with Retry-After under on_error closed (the default);
//     under on_error open the event is forwarded without dedupe, logged at
//     error level and counted in scgate_dedupe_fail_open_total.
//  8. Otherwise the key is claimed and the request passed on. A 2xx answer
//     commits the key; anything else releases it so a retry gets through.
//
// Incoming request headers starting with X-Scgate- are removed; the gateway
// sets X-Scgate-Verified and X-Scgate-Dedupe-Key for the upstream.
//
// A request marked Incremental: ?1 is buffered like any other (the signature
// covers the whole body, so nothing can be forwarded before it is read), and
// the Incremental field is removed before it is passed on.
//
// This handler sets these placeholders:
//
// Placeholder | Description
// ------------|-------------
// `{http.screenshotcenter_webhook.event}` | The event name from the body (after verification).
// `{http.screenshotcenter_webhook.screenshot_id}` | The body's screenshot_id, if any.
// `{http.screenshotcenter_webhook.batch_id}` | The body's batch_id, if any.
// `{http.screenshotcenter_webhook.created_at}` | The body's created_at, if any.
// `{http.screenshotcenter_webhook.dedupe_key}` | The dedupe key of the event.
// `{http.screenshotcenter_webhook.secret_index}` | Index (from 0) of the secret that matched.
// `{http.screenshotcenter_webhook.outcome}` | forwarded, upstream_failed, duplicate, in_flight, ignored, rejected or unavailable.
// `{http.screenshotcenter_webhook.reason}` | The reason code of a rejection.
type Handler struct {
	// Secrets are the HMAC-SHA256 signing secrets; a signature made with
	// any of them is accepted (list the new one next to the old one while
	// rotating). At least one is required. Each may be a placeholder such
	// as `{env.SCREENSHOTCENTER_WEBHOOK_SECRET}` or `{file./run/secrets/x}`,
	// resolved when the config is provisioned, so the secret itself does not
	// appear in the config. A secret with an unknown placeholder (a typo
	// would otherwise leave its text as a guessable secret) or one that
	// resolves empty, even in part, is a config error, never an open gate;
	// write a literal brace as `\{`. Secrets are never logged.
	Secrets []string `json:"secrets,omitempty"`

	// SignatureHeaders are the request headers searched for the signature,
	// in order; the first one present is used. A header may hold several
	// comma- or space-separated sha256= values; any match passes. Default:
	// X-ScreenshotCenter-Signature, X-Signature.
	SignatureHeaders []string `json:"signature_headers,omitempty"`

	// MaxBody is the largest accepted body, in bytes. Larger requests are
	// answered 413 without being read past the limit. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// Events, if set, is the allowlist of event names to forward. Other
	// correctly signed events are answered 200 and dropped, so the sender
	// stops retrying an event nobody wants. Default: all events.
	Events []string `json:"events,omitempty"`

	// MaxAge, if set, is the replay window: an event whose signed
	// created_at is older than this, or more than five minutes in the
	// future, or missing, is rejected with 401. Keep it longer than the
	// sender's whole retry schedule, or late retries are refused. Default:
	// 0 (no check).
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// Dedupe configures how retried events are recognized. Default: the
	// memory backend with its defaults.
	Dedupe *DedupeConfig `json:"dedupe,omitempty"`

	checker *gateway.Checker
	// boundOnce applies max_keys to a shared memory store when this
	// config first serves, not when it is provisioned.
	boundOnce *sync.Once
	store     dedupe.Store
	storeKey  string
	keyTmpl   string
	logger    *zap.Logger
}

// DedupeConfig configures the dedupe store of a Handler.
type DedupeConfig struct {
	// Backend is "memory" (the default: one process, bounded, optionally
	// saved to a file with Persist), "redis" (Redis or Valkey, shared by
	// every gateway using the same server and Redis.KeyPrefix, so retries are
	// recognized behind a load balancer and across restarts) or "off" (every
	// valid event is forwarded, retries included).
	Backend string `json:"backend,omitempty"`

	// TTL is how long a delivered key is remembered, so that retries within
	// it are answered as duplicates. Keep it longer than the sender's whole
	// retry schedule. Default: 72h.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// InflightTimeout is how long a claim blocks copies of an event while
	// the upstream works on it (they get 409). After it a claim that was
	// neither committed nor released (a crashed gateway) lapses, so keep it
	// longer than the upstream's slowest answer. Default: 60s.
	InflightTimeout caddy.Duration `json:"inflight_timeout,omitempty"`

	// MaxKeys bounds the memory backend. When it holds this many keys a new
	// event is answered 503 (the sender retries later) rather than growing
	// without bound. Each key costs about 120 bytes. The memory store is
	// shared by every handler of the process: the bound of the config that
	// last started serving applies, and a config that fails to load never
	// changes it. Default: 1000000.
	MaxKeys int `json:"max_keys,omitempty"`

	// Key is a template for the dedupe key. It may use `{event}`,
	// `{screenshot_id}`, `{batch_id}`, `{created_at}` and `{body_sha256}`,
	// and any Caddy placeholder (beware: request headers are not signed).
	// Default: the event, "|" and the screenshot_id; for events without
	// one (or with an empty one), "batch:" and the batch_id; without
	// either, "sha256:" and the hex SHA-256 of the body. The template must
	// contain a placeholder; an event for which one of its placeholders is
	// unknown or empty is rejected with 400 (dedupe_key_unresolved), never
	// given a key it would share with unrelated events.
	Key string `json:"key,omitempty"`

	// Namespace separates the keys of different webhook endpoints that
	// share a store (the memory store is shared by every handler of the
	// process; a Redis server by every gateway using it). Placeholders are
	// allowed. Default: the request's host (lowercased, without port) and
	// path, so one event delivered to two URLs, say for two applications
	// behind one Caddy, is forwarded to both, while replicas behind a load
	// balancer that keeps the Host header share their keys. Set it to a
	// fixed name when replicas see different hosts or paths for the same
	// endpoint.
	Namespace string `json:"namespace,omitempty"`

	// OnError is what happens to an event while the store cannot answer
	// (Redis down, or slower than Redis.Timeout). "closed" (the default) answers
	// 503 with Retry-After and forwards nothing, so the sender retries
	// later: nothing is delivered twice, but nothing is delivered until the
	// store is back. "open" forwards the event without dedupe, logs it at
	// error level and counts it in scgate_dedupe_fail_open_total: delivery
	// goes on, but retries may reach the upstream twice meanwhile.
	OnError string `json:"on_error,omitempty"`

	// Persist is a file where the memory backend saves its delivered keys:
	// loaded at start, written every PersistInterval and when the store is
	// released (process exit), each time to a temporary file renamed over
	// it, readable by its owner only. A missing, empty or corrupt file is
	// logged and ignored. Keys in flight are not saved. It may be a
	// placeholder such as `{env.SCGATE_SNAPSHOT}`. Default: none (keys live
	// in memory only).
	Persist string `json:"persist,omitempty"`

	// PersistInterval is how often the memory backend writes Persist, so a
	// crash loses at most this much. The first config using a file sets it
	// for as long as the file stays in use. Default: 1m.
	PersistInterval caddy.Duration `json:"persist_interval,omitempty"`

	// Redis configures the redis backend (required with it, refused with
	// the others).
	Redis *RedisConfig `json:"redis,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.screenshotcenter_webhook",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, resolves secrets and gets the dedupe store.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.boundOnce = new(sync.Once)
	if len(h.SignatureHeaders) == 0 {
		h.SignatureHeaders = DefaultSignatureHeaders
	}
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.Dedupe == nil {
		h.Dedupe = new(DedupeConfig)
	}
	d := h.Dedupe
	if d.Backend == "" {
		d.Backend = BackendMemory
	}
	if d.Backend == BackendOff && (d.TTL != 0 || d.InflightTimeout != 0 || d.MaxKeys != 0 || d.Key != "" ||
		d.Namespace != "" || d.OnError != "") {
		// They would be ignored; an operator would not notice until retries
		// reach the application twice.
		return errors.New("dedupe off takes no other dedupe settings")
	}
	if d.TTL == 0 {
		d.TTL = caddy.Duration(DefaultTTL)
	}
	if d.InflightTimeout == 0 {
		d.InflightTimeout = caddy.Duration(DefaultInflightTimeout)
	}
	if d.MaxKeys == 0 {
		d.MaxKeys = dedupe.DefaultMaxKeys
	}
	var events map[string]struct{}
	if len(h.Events) > 0 {
		events = make(map[string]struct{}, len(h.Events))
		for _, e := range h.Events {
			events[e] = struct{}{}
		}
	}
	if d.Key != "" {
		h.keyTmpl = expandKeyTemplate(d.Key)
	}

	// A secret that did not load must never open the gate: see secret.Resolve.
	secrets := make([][]byte, len(h.Secrets))
	for i, s := range h.Secrets {
		v, err := secret.Resolve(s)
		if err != nil {
			return fmt.Errorf("secret %d %w", i, err)
		}
		secrets[i] = v
	}
	allSet := len(secrets) > 0
	if allSet {
		v, err := verifier.New(secrets)
		if err != nil {
			return err
		}
		h.checker = &gateway.Checker{
			Verifier:         v,
			SignatureHeaders: h.SignatureHeaders,
			MaxBody:          h.MaxBody,
			MaxAge:           time.Duration(h.MaxAge),
			Events:           events,
		}
	}

	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}

	if err := h.provisionStore(ctx); err != nil {
		return err
	}
	if d.Backend == BackendOff {
		h.logger.Warn("dedupe is off: every valid delivery is forwarded, retries included")
	}
	return nil
}

// Validate checks the provisioned config.
func (h *Handler) Validate() error {
	if len(h.Secrets) == 0 {
		return errors.New("at least one secret is required")
	}
	if h.checker == nil {
		return errors.New("secrets were not loaded")
	}
	if h.MaxBody < 0 {
		return fmt.Errorf("max_body must be positive, got %d", h.MaxBody)
	}
	if h.MaxAge < 0 {
		return errors.New("max_age must not be negative")
	}
	for _, name := range h.SignatureHeaders {
		if strings.TrimSpace(name) == "" {
			return errors.New("signature_header names must not be empty")
		}
	}
	for _, e := range h.Events {
		if e == "" {
			return errors.New("events must not contain an empty name")
		}
	}
	d := h.Dedupe
	switch d.Backend {
	case BackendMemory, BackendRedis, BackendOff:
	default:
		return fmt.Errorf("unknown dedupe backend %q (want memory, redis or off)", d.Backend)
	}
	if err := d.validateStore(); err != nil {
		return err
	}
	if d.TTL < 0 || d.InflightTimeout < 0 {
		return errors.New("dedupe ttl and inflight_timeout must be positive")
	}
	if d.MaxKeys < 0 {
		return errors.New("dedupe max_keys must be positive")
	}
	if h.Dedupe.Backend != BackendOff && h.store == nil {
		return errors.New("dedupe store was not provisioned")
	}
	return nil
}

// Cleanup releases this config's reference to the dedupe store. The store
// itself outlives a reload: the new config holds its own reference before
// this runs. Cleanup is safe on a half-provisioned handler and when repeated.
func (h *Handler) Cleanup() error {
	if h.storeKey == "" {
		return nil
	}
	key := h.storeKey
	h.storeKey = ""
	_, err := stores.Delete(key)
	return err
}

// applyBound gives a shared memory store this config's max_keys once it
// serves (the last config to serve wins when handlers disagree).
func (h *Handler) applyBound() {
	if ms, ok := h.store.(*dedupe.MemoryStore); ok {
		ms.SetMaxKeys(h.Dedupe.MaxKeys)
	}
}

// expandKeyTemplate turns the short key placeholders into this handler's
// full placeholder names.
func expandKeyTemplate(t string) string {
	for _, name := range []string{"event", "screenshot_id", "batch_id", "created_at", "body_sha256"} {
		t = strings.ReplaceAll(t, "{"+name+"}", "{"+placeholderPrefix+name+"}")
	}
	return t
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
