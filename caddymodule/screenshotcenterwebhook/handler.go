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
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/flow"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/webhook"
)

// Directives are the Caddyfile directives of the handler: its own name,
// and the provider-neutral one for the other schemes. Both take the same
// options and give the same JSON handler (screenshotcenter_webhook).
var Directives = []string{"screenshotcenter_webhook", "webhook_gateway"}

func init() {
	caddy.RegisterModule(Handler{})
	for _, name := range Directives {
		httpcaddyfile.RegisterHandlerDirective(name, parseCaddyfile)
		// "handle" comes after basic_auth, forward_auth and request_header
		// and before route and reverse_proxy: the gateway then needs no
		// global `order` option and always runs before the handler it
		// protects.
		httpcaddyfile.RegisterDirectiveOrder(name, httpcaddyfile.Before, "handle")
	}
}

// nowFunc is the clock used for max_age; tests may replace it.
var nowFunc = time.Now

// bodyBudget bounds the body bytes all handlers of the process buffer at
// once (max_buffered) and those of one client (max_buffered_per_client).
var bodyBudget webhook.Budget

// bodyStreams bounds the bodies of one HTTP/2 or HTTP/3 connection that
// all handlers of the process read at once (max_streams_per_connection).
var bodyStreams gateway.Streams

// ServeHTTP runs the request path: the checks on the raw request, the
// claim of its dedupe key, the forward (or, with an inbox, the durable
// queue), and the settlement of the claim by the upstream's answer (or the
// write to the inbox). Nothing is forwarded unless every step says so;
// each step that says no hands a verdict to give (answer.go), which in
// report mode passes the request on unchanged instead.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars := newRequestVars(repl, h.Mode, h.checker.Scheme)
	stripGatewayHeaders(r.Header)

	// 1. The checks, in the contract's order: method, size, signature
	// (before anything parses the body), body, event header, max_age,
	// events allowlist. The body is read under body_timeout,
	// body_min_rate, max_buffered, max_buffered_per_client and
	// max_streams_per_connection.
	ev, rej := h.checkRequest(w, r)
	h.metrics.read.Observe(ev.Timing.Read.Seconds())
	if rej != nil {
		return h.give(w, r, vars, ev, flow.Refused(rej), next)
	}
	defer h.checker.Release(ev)
	h.metrics.verify.Observe(ev.Timing.Verify.Seconds())
	h.metrics.parse.Observe(ev.Timing.Parse.Seconds())
	h.metrics.secrets[ev.SecretIndex].Inc()
	vars.setEvent(ev)
	if ev.Ignored {
		return h.give(w, r, vars, ev, flow.IgnoredOutcome, next)
	}

	// 2. What the upstream gets: the verified bytes, or, for a handler
	// that verifies its runtime's re-serialisation (reencode), that
	// re-serialisation, signed again.
	up, rej := h.upstreamBody(ev)
	if rej != nil {
		return h.give(w, r, vars, ev, flow.Refused(rej), next)
	}
	defer up.release()

	// 3. The claim: a copy already delivered or in flight, or a store that
	// cannot take it, gets its outcome instead.
	c, o := h.flow.Claim(r.Context(), ev)
	if c.Key.Store != "" {
		vars.key = c.Key.Display()
	} else if o != nil && o.Key.Store != "" {
		vars.key = o.Key.Display()
	}
	if o != nil {
		return h.give(w, r, vars, ev, *o, next)
	}
	if c.State == flow.FailOpen {
		h.metrics.failOpen.Inc()
		h.log(zapcore.ErrorLevel, "dedupe store unavailable; forwarding WITHOUT dedupe (on_error open): retries of this event may be delivered twice", r,
			zap.String("reason", flow.ReasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(c.Err))
	}

	// 4. Deliver, then settle the claim by the result: queue in the
	// inbox (inbox.go), or forward to the next handler.
	if h.inbox != nil {
		return h.queue(w, r, vars, ev, c, up)
	}
	return h.forward(w, r, vars, c, up, next)
}

// checkRequest runs the checks with the body read under body_timeout and
// body_min_rate (the connection's or stream's read deadline, lifted again
// once the body is in), charged to the client Caddy determined (client_ip,
// which follows trusted_proxies).
func (h *Handler) checkRequest(w http.ResponseWriter, r *http.Request) (gateway.Event, *gateway.Rejection) {
	src := gateway.Source{SetReadDeadline: http.NewResponseController(w).SetReadDeadline}
	src.ClientIP, _ = caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return h.checker.Check(r, src, nowFunc())
}

// forward passes the request on with the verified body and the gateway's
// headers: the pass-through deliverer of the flow. The flow settles the
// claim by its result, and the outcome goes to the one hook (record).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, vars *requestVars, c flow.Claim, up upstreamBody, next caddyhttp.Handler) (err error) {
	h.prepareUpstreamRequest(r, up, c)
	if c.State == flow.Held {
		// A client that hangs up must not cancel the upstream call: the
		// upstream already has the whole event and may act on it, and a
		// cancelled call would release the claim, so that every copy sent
		// and dropped in turn would be forwarded again. Its answer settles
		// the claim instead. The call stays bounded by the proxy's own
		// timeouts and by the claim's lapse (inflight_timeout): past it the
		// claim no longer blocks copies, and the call is cut off (504,
		// released). A shutdown waits for it like for any request, up to
		// the server's grace_period.
		ctx, cancel := context.WithDeadline(context.WithoutCancel(r.Context()), c.Lapses)
		defer cancel()
		r = r.WithContext(ctx)
	}
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	start := time.Now()
	// The one place a claim is settled. It runs also when a later handler
	// panics: reverse_proxy aborts with http.ErrAbortHandler when the
	// response breaks off after the upstream answered, and then the status
	// it wrote decides, so an accepted event stays committed and a failed
	// one is retryable.
	defer func() {
		vars.upstream = time.Since(start)
		h.metrics.upstream.Observe(vars.upstream.Seconds())
		o := h.flow.Settle(c, flow.Result{Status: rec.Status(), Err: err})
		if err == nil && rec.Status() == 0 {
			o.Reason, o.Err = flow.ReasonNoUpstream, errNoUpstream
		}
		h.record(r, vars, o)
	}()
	err = next.ServeHTTP(rec, r)
	if err == nil && rec.Status() == 0 {
		// Nothing answered: the gateway is the last handler. Say so loudly
		// instead of an empty 200 that would make the sender drop the event
		// (settle sees no status: nothing accepted it).
		h.log(zapcore.ErrorLevel, "no handler after screenshotcenter_webhook wrote a response", r,
			zap.String("reason", flow.ReasonNoUpstream))
		return h.fail(w, r, http.StatusBadGateway, flow.ReasonNoUpstream, errNoUpstream)
	}
	return err
}

// observeStore is the flow's report of a store operation: its latency, and
// the kind of its error.
func (h *Handler) observeStore(op string, took time.Duration, err error) {
	secs := took.Seconds()
	switch op {
	case "claim":
		h.metrics.claim.Observe(secs)
	case "commit":
		h.metrics.commit.Observe(secs)
	case "release":
		h.metrics.release.Observe(secs)
	}
	h.metrics.store.Observe(secs)
	if err != nil {
		h.metrics.storeError(op, err)
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
