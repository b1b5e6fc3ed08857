// Package screenshotcenterwebhook is the Caddy glue of the scgate receiver:
// the http.handlers.screenshotcenter_webhook handler and its Caddyfile
// directive. The request path reads top to bottom in this file; what the
// gateway answers when it does not forward is in answer.go, what the
// upstream gets in upstream.go, the config and its rules in config.go, the
// Caddyfile parser in caddyfile.go, the shared stores in pool.go. The logic
// it calls lives in the verifier, webhook, gateway, dedupe and reencode
// packages, which do not import Caddy.
package screenshotcenterwebhook

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/gateway"
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

// nowFunc is the clock used for max_age; tests may replace it.
var nowFunc = time.Now

// bodyBudget bounds the body bytes all handlers of the process buffer at
// once (max_buffered).
var bodyBudget webhook.Budget

// ServeHTTP runs the request path: the checks on the raw request, the
// claim of its dedupe key, the forward, and the settlement of the claim by
// the upstream's answer. Nothing is forwarded unless every step says so;
// each step that says no hands a verdict to give (answer.go), which in
// report mode passes the request on unchanged instead.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars := newRequestVars(repl, h.Mode)
	stripGatewayHeaders(r.Header)

	// 1. The checks, in the contract's order: method, size, signature
	// (before anything parses the body), body, event header, max_age,
	// events allowlist. The body is read under body_timeout and
	// max_buffered.
	ev, rej := h.checkRequest(w, r)
	h.metrics.read.Observe(ev.Timing.Read.Seconds())
	if rej != nil {
		return h.give(w, r, vars, ev, rejection(rej), next)
	}
	defer h.checker.Release(ev)
	h.metrics.verify.Observe(ev.Timing.Verify.Seconds())
	h.metrics.parse.Observe(ev.Timing.Parse.Seconds())
	h.metrics.secrets[ev.SecretIndex].Inc()
	vars.setEvent(ev)
	if ev.Ignored {
		return h.give(w, r, vars, ev, verdictIgnored, next)
	}

	// 2. What the upstream gets: the verified bytes, or, for a handler
	// that verifies its runtime's re-serialisation (reencode), that
	// re-serialisation, signed again.
	up, rej := h.upstreamBody(ev)
	if rej != nil {
		return h.give(w, r, vars, ev, rejection(rej), next)
	}
	defer up.release()

	// 3. The claim: a copy already delivered or in flight, or a store that
	// cannot take it, gets a verdict instead.
	c, v := h.claim(r, vars, ev)
	if v != nil {
		return h.give(w, r, vars, ev, *v, next)
	}

	// 4. Forward, then settle the claim by the upstream's answer.
	return h.forward(w, r, vars, c, up, next)
}

// checkRequest runs the checks with the body read under body_timeout: the
// connection's read deadline, lifted again once the body is in.
func (h *Handler) checkRequest(w http.ResponseWriter, r *http.Request) (gateway.Event, *gateway.Rejection) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(time.Duration(h.BodyTimeout))) == nil
	ev, rej := h.checker.Check(r, nowFunc())
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return ev, rej
}

// claimState says what the gateway holds for a request it forwards.
type claimState uint8

const (
	// claimHeld: the key is claimed; the upstream's answer commits or
	// releases it.
	claimHeld claimState = iota
	// dedupeOff: the handler has no store.
	dedupeOff
	// failOpen: the store failed and on_error is open; nothing to settle.
	failOpen
)

// claim is what a forwarded request holds in the dedupe store.
type claim struct {
	state claimState
	key   gateway.Key // zero when dedupe is off
	token dedupe.Token
	// lapses is when a held claim stops blocking copies (inflight_timeout
	// after it was asked for): the upstream call ends by then.
	lapses time.Time
}

// claim claims the event's dedupe key, or returns the verdict for an event
// that must not be forwarded now: a key template it does not fill, a
// duplicate, a copy in flight, or a store that cannot take it under
// on_error closed.
func (h *Handler) claim(r *http.Request, vars *requestVars, ev gateway.Event) (claim, *verdict) {
	if h.store == nil {
		return claim{state: dedupeOff}, nil
	}
	key, rej := h.keyer.Key(ev)
	if rej != nil {
		v := rejection(rej)
		return claim{}, &v
	}
	vars.key = key.Display()

	// The claim must not be cut short by a client that hangs up: a claim
	// that landed but whose answer was lost would block retries until it
	// lapses. The store bounds the call with its own timeout.
	start := time.Now()
	state, tok, err := h.store.Claim(context.WithoutCancel(r.Context()), key.Store, time.Duration(h.Dedupe.InflightTimeout))
	took := time.Since(start).Seconds()
	h.metrics.claim.Observe(took)
	h.metrics.store.Observe(took)
	switch {
	case errors.Is(err, dedupe.ErrFull):
		h.metrics.storeError("claim", err)
		return claim{}, &verdictStoreFull
	case err != nil:
		h.metrics.storeError("claim", err)
		if h.Dedupe.OnError == OnErrorOpen {
			h.metrics.failOpen.Inc()
			h.log(zapcore.ErrorLevel, "dedupe store unavailable; forwarding WITHOUT dedupe (on_error open): retries of this event may be delivered twice", r,
				zap.String("reason", reasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(err))
			return claim{state: failOpen, key: key}, nil
		}
		v := verdictStoreError
		v.err = err
		return claim{}, &v
	}
	switch state {
	case dedupe.Done:
		return claim{}, &verdictDuplicate
	case dedupe.InFlight:
		v := verdictInFlight
		v.retryAfter = h.inFlightRetryAfter()
		return claim{}, &v
	}
	return claim{state: claimHeld, key: key, token: tok, lapses: start.Add(time.Duration(h.Dedupe.InflightTimeout))}, nil
}

// forward passes the request on with the verified body and the gateway's
// headers, and settles the claim by the upstream's answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, vars *requestVars, c claim, up upstreamBody, next caddyhttp.Handler) (err error) {
	h.prepareUpstreamRequest(r, up, c)
	if c.state == claimHeld {
		// A client that hangs up must not cancel the upstream call: the
		// upstream already has the whole event and may act on it, and a
		// cancelled call would release the claim, so that every copy sent
		// and dropped in turn would be forwarded again. Its answer settles
		// the claim instead. The call stays bounded by the proxy's own
		// timeouts and by the claim's lapse (inflight_timeout): past it the
		// claim no longer blocks copies, and the call is cut off (504,
		// released). A shutdown waits for it like for any request, up to
		// the server's grace_period.
		ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), c.lapses)
		defer cancel()
		r = r.WithContext(ctx)
	}
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	start := time.Now()
	// The one place a claim is settled and the outcome counted. It runs
	// also when a later handler panics: reverse_proxy aborts with
	// http.ErrAbortHandler when the response breaks off after the upstream
	// answered, and then the status it wrote decides, so an accepted event
	// stays committed and a failed one is retryable.
	defer func() {
		vars.upstream = time.Since(start)
		h.metrics.upstream.Observe(vars.upstream.Seconds())
		h.settle(r, vars, c, rec.Status(), err)
	}()
	err = next.ServeHTTP(rec, r)
	if err == nil && rec.Status() == 0 {
		// Nothing answered: the gateway is the last handler. Say so loudly
		// instead of an empty 200 that would make the sender drop the event
		// (settle sees no status: nothing accepted it).
		vars.reason = reasonNoUpstream
		h.log(zapcore.ErrorLevel, "no handler after screenshotcenter_webhook wrote a response", r,
			zap.String("reason", reasonNoUpstream))
		return h.fail(w, r, http.StatusBadGateway, reasonNoUpstream, errNoUpstream)
	}
	return err
}

// settle commits a held claim after a 2xx and releases it otherwise, and
// records the outcome.
func (h *Handler) settle(r *http.Request, vars *requestVars, c claim, status int, err error) {
	ok := err == nil && status >= 200 && status < 300
	if c.state == claimHeld {
		start := time.Now()
		op := h.metrics.release
		if ok {
			h.commit(c)
			op = h.metrics.commit
		} else {
			h.release(c)
		}
		took := time.Since(start).Seconds()
		op.Observe(took)
		h.metrics.store.Observe(took)
	}
	outcome := outcomeUpstreamFailed
	if ok {
		outcome = outcomeForwarded
	}
	vars.outcome = outcome
	h.metrics.outcomes[outcome].Inc()
	h.record(r, vars, forwardedAnswer(status, err, vars.upstream))
	if ok {
		h.log(zapcore.DebugLevel, "event forwarded", r, zap.String("dedupe_key", vars.key), zap.Int("status", status))
	} else {
		h.log(zapcore.WarnLevel, "upstream did not accept the event; released for retry", r,
			zap.String("reason", outcomeUpstreamFailed), zap.String("dedupe_key", vars.key), zap.Int("status", status), zap.Error(err))
	}
}

// commit and release run on a context detached from the request: a client
// that hangs up after the upstream accepted must not undo the commit.
func (h *Handler) commit(c claim) {
	err := h.store.Commit(context.Background(), c.key.Store, c.token, time.Duration(h.Dedupe.TTL))
	switch {
	case err == nil:
	case errors.Is(err, dedupe.ErrClaimLost):
		h.logger.Warn("dedupe claim expired before the upstream answered; another copy may have been forwarded (raise inflight_timeout)",
			zap.String("dedupe_key", c.key.Display()))
	case errors.Is(err, dedupe.ErrCommitPending):
		h.metrics.storeError("commit", err)
		h.logger.Warn("dedupe commit deferred; retried in the background until the store answers",
			zap.String("reason", "dedupe_commit_pending"), zap.String("dedupe_key", c.key.Display()), zap.Error(err))
	default:
		h.metrics.storeError("commit", err)
		h.logger.Error("dedupe commit failed; a retry of this event may be forwarded again",
			zap.String("dedupe_key", c.key.Display()), zap.Error(err))
	}
}

func (h *Handler) release(c claim) {
	err := h.store.Release(context.Background(), c.key.Store, c.token)
	if err != nil && !errors.Is(err, dedupe.ErrClaimLost) {
		h.metrics.storeError("release", err)
		h.logger.Error("dedupe release failed; retries wait for inflight_timeout",
			zap.String("dedupe_key", c.key.Display()), zap.Error(err))
	}
}

// evicted counts a key the full memory store evicted to make room, and
// warns when it was young enough that the sender may still retry it.
func (h *Handler) evicted(e dedupe.Eviction) {
	metricEvictions.WithLabelValues(h.poolKey).Inc()
	if e.Age > 0 && e.Age < time.Duration(h.Dedupe.EvictWarnAge) {
		h.logger.Warn("dedupe store full: evicted a recently delivered key; a retry of that event would be forwarded again (raise max_keys)",
			zap.String("reason", "dedupe_evicted_young"), zap.Duration("age", e.Age),
			zap.Duration("evict_warn_age", time.Duration(h.Dedupe.EvictWarnAge)), zap.Int("max_keys", h.Dedupe.MaxKeys))
	}
}

// log writes one line with the remote address; it checks the level first so
// that a disabled level costs no field allocations.
func (h *Handler) log(level zapcore.Level, msg string, r *http.Request, fields ...zap.Field) {
	if ce := h.logger.Check(level, msg); ce != nil {
		ce.Write(append(fields, zap.String("remote_addr", r.RemoteAddr))...)
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
