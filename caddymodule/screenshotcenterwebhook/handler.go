// Package screenshotcenterwebhook is the Caddy glue of the scgate receiver:
// the http.handlers.screenshotcenter_webhook handler and its Caddyfile
// directive. The request path reads top to bottom in this file; the config
// and its rules are in config.go, the Caddyfile parser in caddyfile.go, the
// shared stores in pool.go. The logic it calls lives in the verifier,
// webhook, gateway and dedupe packages, which do not import Caddy.
package screenshotcenterwebhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/reencode"
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

// Headers the gateway sets: on the response (outcome of a request it
// answered itself) and on the request passed upstream. Incoming request
// headers with the X-Scgate- prefix are removed so none can be spoofed.
const (
	HeaderOutcome      = "X-Scgate-Outcome"
	HeaderVerified     = "X-Scgate-Verified"
	HeaderDedupeKey    = "X-Scgate-Dedupe-Key"
	HeaderReencoded    = "X-Scgate-Reencoded"
	gatewayHeaderStart = "X-Scgate-"
)

// Outcomes, as in the outcome placeholder and metric label.
const (
	outcomeForwarded      = "forwarded"
	outcomeUpstreamFailed = "upstream_failed"
	outcomeDuplicate      = "duplicate"
	outcomeInFlight       = "in_flight"
	outcomeIgnored        = "ignored"
	outcomeRejected       = "rejected"
	outcomeUnavailable    = "unavailable"
)

// Reason codes of answers that are not about the request itself (those are
// in the gateway package).
const (
	reasonStoreFull  = "dedupe_store_full"
	reasonStoreError = "dedupe_store_error"
	reasonNoUpstream = "no_upstream_response"
)

var (
	errNoUpstream = errors.New("no handler after screenshotcenter_webhook answered the request")
	errStoreFull  = errors.New("dedupe store is full")
	errStore      = errors.New("dedupe store unavailable")
	errInFlight   = errors.New("a copy of this event is being delivered")
)

// storeRetryAfter is the Retry-After, in seconds, of a 503 answered because
// the store failed.
const storeRetryAfter = "30"

// bufferRetryAfter is the Retry-After, in seconds, of a 503 answered because
// the body budget was used up: other bodies are read within body_timeout.
const bufferRetryAfter = "10"

// bodyBudget bounds the body bytes all handlers of the process buffer at
// once (max_buffered).
var bodyBudget webhook.Budget

// nowFunc is the clock used for max_age; tests may replace it.
var nowFunc = time.Now

// ServeHTTP runs the request path: the checks on the raw request, the
// claim of its dedupe key, the forward, and the settlement of the claim by
// the upstream's answer. Nothing is forwarded unless every step says so.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars := newRequestVars(repl)
	stripGatewayHeaders(r.Header)

	// 1. The checks, in the contract's order: method, size, signature
	// (before anything parses the body), body, event header, max_age,
	// events allowlist.
	ev, rej := h.checkRequest(w, r)
	switch rej {
	case nil:
	case gateway.ErrMethod:
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(r, vars, rej)
	case gateway.ErrBufferFull:
		w.Header().Set("Retry-After", bufferRetryAfter)
		h.log(zapcore.WarnLevel, "body budget used up; answering 503 (raise max_buffered if this is not an attack)", r,
			zap.String("reason", rej.Reason), zap.Int64("max_buffered", h.MaxBuffered))
		return h.unavailable(vars, rej.Reason, rej.Err)
	default:
		return h.reject(r, vars, rej)
	}
	defer h.checker.Release(ev)
	vars.setEvent(ev)
	if ev.Ignored {
		return h.answer(w, r, vars, outcomeIgnored)
	}

	// 2. What the upstream gets: the verified bytes, or, for a handler
	// that verifies its runtime's re-serialisation (reencode), that
	// re-serialisation, signed again.
	up, rej := h.upstreamBody(ev)
	if rej != nil {
		return h.reject(r, vars, rej)
	}
	defer up.release()

	// 3. The claim: a copy already delivered or in flight, or a store
	// that cannot take it, is answered here.
	c, done, err := h.claim(w, r, vars, ev)
	if done {
		return err
	}

	// 4. Forward, then settle the claim by the upstream's answer.
	return h.forward(w, r, vars, c, up, next)
}

// upstreamBody is the body passed upstream and, when it was re-encoded,
// its signature and the pooled buffer that holds it.
type upstreamBody struct {
	body      []byte
	signature string // "" when the body is the original
	buf       *[]byte
}

// reencodeBuffers holds the buffers of re-encoded bodies between requests.
var reencodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// upstreamBody re-encodes the verified body if the handler is configured
// to. A body the handler's runtime could not process is refused (422):
// forwarded, it would fail there too.
func (h *Handler) upstreamBody(ev gateway.Event) (upstreamBody, *gateway.Rejection) {
	if h.reencode == 0 {
		return upstreamBody{body: ev.Body}, nil
	}
	buf := reencodeBuffers.Get().(*[]byte)
	out, err := reencode.Append((*buf)[:0], ev.Body, h.reencode)
	if err != nil {
		reencodeBuffers.Put(buf)
		return upstreamBody{}, reencodeRejection(err)
	}
	*buf = out
	return upstreamBody{body: out, signature: h.checker.Verifier.Sign(ev.SecretIndex, out), buf: buf}, nil
}

// release returns a re-encoded body's buffer once nothing reads it.
func (u upstreamBody) release() {
	if u.buf != nil && cap(*u.buf) <= maxPooledBody {
		reencodeBuffers.Put(u.buf)
	}
}

// maxPooledBody keeps an occasional huge body from pinning its buffer.
const maxPooledBody = 256 << 10

// reencodeRejection is the 422 of a body the runtime cannot process, with
// a bounded reason code per cause.
func reencodeRejection(err error) *gateway.Rejection {
	reason := "reencode_failed"
	var re *reencode.Error
	if errors.As(err, &re) {
		reason = "reencode_" + re.Reason
	}
	return &gateway.Rejection{Status: http.StatusUnprocessableEntity, Reason: reason, Err: err}
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
}

// claim claims the event's dedupe key. done is set when the request was
// answered here (err is the answer): a rejected key, a duplicate, a copy in
// flight, or a store that cannot take it under on_error closed.
func (h *Handler) claim(w http.ResponseWriter, r *http.Request, vars *requestVars, ev gateway.Event) (c claim, done bool, err error) {
	if h.store == nil {
		return claim{state: dedupeOff}, false, nil
	}
	key, rej := h.keyer.Key(ev)
	if rej != nil {
		return c, true, h.reject(r, vars, rej)
	}
	vars.key = key.Display()

	// The claim must not be cut short by a client that hangs up: a claim
	// that landed but whose answer was lost would block retries until it
	// lapses. The store bounds the call with its own timeout.
	state, tok, err := h.store.Claim(context.WithoutCancel(r.Context()), key.Store, time.Duration(h.Dedupe.InflightTimeout))
	switch {
	case errors.Is(err, dedupe.ErrFull):
		metricStoreErrors.WithLabelValues("claim").Inc()
		w.Header().Set("Retry-After", storeRetryAfter)
		h.log(zapcore.ErrorLevel, "dedupe store is full; refusing new events until keys expire", r,
			zap.String("reason", reasonStoreFull), zap.String("dedupe_key", vars.key), zap.Int("max_keys", h.Dedupe.MaxKeys))
		return c, true, h.unavailable(vars, reasonStoreFull, errStoreFull)
	case err != nil:
		metricStoreErrors.WithLabelValues("claim").Inc()
		if h.Dedupe.OnError == OnErrorOpen {
			metricFailOpen.Inc()
			h.log(zapcore.ErrorLevel, "dedupe store unavailable; forwarding WITHOUT dedupe (on_error open): retries of this event may be delivered twice", r,
				zap.String("reason", reasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(err))
			return claim{state: failOpen, key: key}, false, nil
		}
		w.Header().Set("Retry-After", storeRetryAfter)
		h.log(zapcore.ErrorLevel, "dedupe claim failed; answering 503 so the sender retries (on_error closed)", r,
			zap.String("reason", reasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(err))
		return c, true, h.unavailable(vars, reasonStoreError, errStore)
	}
	switch state {
	case dedupe.Done:
		return c, true, h.answer(w, r, vars, outcomeDuplicate)
	case dedupe.InFlight:
		w.Header().Set("Retry-After", h.inFlightRetryAfter())
		vars.outcome = outcomeInFlight
		countOutcome(outcomeInFlight)
		h.log(zapcore.InfoLevel, "copy of an event already in flight", r,
			zap.String("reason", outcomeInFlight), zap.String("dedupe_key", vars.key))
		return c, true, caddyhttp.Error(http.StatusConflict, errInFlight)
	}
	return claim{state: claimHeld, key: key, token: tok}, false, nil
}

// forward passes the request on with the verified body and the gateway's
// headers, and settles the claim by the upstream's answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, vars *requestVars, c claim, up upstreamBody, next caddyhttp.Handler) (err error) {
	h.prepareUpstreamRequest(r, up, c)
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	// The one place a claim is settled and the outcome counted. It runs
	// also when a later handler panics: reverse_proxy aborts with
	// http.ErrAbortHandler when the response breaks off after the upstream
	// answered, and then the status it wrote decides, so an accepted event
	// stays committed and a failed one is retryable.
	defer func() { h.settle(r, vars, c, rec.Status(), err) }()
	err = next.ServeHTTP(rec, r)
	if err == nil && rec.Status() == 0 {
		// Nothing answered: the gateway is the last handler. Say so loudly
		// instead of an empty 200 that would make the sender drop the event.
		vars.reason = reasonNoUpstream
		h.log(zapcore.ErrorLevel, "no handler after screenshotcenter_webhook wrote a response", r,
			zap.String("reason", reasonNoUpstream))
		err = caddyhttp.Error(http.StatusBadGateway, errNoUpstream)
	}
	return err
}

// prepareUpstreamRequest gives r the body (with its length, also when it
// came chunked) and the headers the gateway promises the upstream.
func (h *Handler) prepareUpstreamRequest(r *http.Request, up upstreamBody, c claim) {
	body := up.body
	rd := new(bufferedBody)
	rd.Reset(body)
	r.Body = rd
	if r.ContentLength != int64(len(body)) {
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	r.Header.Del("Incremental")
	// What the upstream gets is this request's headers and body, nothing
	// more: trailers would come after the checks (a client could add
	// X-Scgate-Verified or another event name there), and reverse_proxy
	// would send the body chunked to make room for them.
	r.Trailer = nil
	// Connection is hop-by-hop, and reverse_proxy deletes every header it
	// names: a client could make it drop the signature or the gateway's
	// own headers. The upstream connection gets its own.
	r.Header.Del("Connection")
	if up.signature != "" {
		// The original signature never travels next to a body it does not
		// sign.
		for _, name := range h.checker.SignatureHeaders {
			if r.Header.Get(name) != "" {
				r.Header.Set(name, up.signature)
			}
		}
		r.Header[HeaderReencoded] = []string{h.Reencode}
	}
	r.Header[HeaderVerified] = headerTrue
	if c.state != dedupeOff {
		r.Header[HeaderDedupeKey] = []string{dedupeKeyHeader(c.key.Display())}
	}
}

// settle commits a held claim after a 2xx and releases it otherwise, and
// records the outcome.
func (h *Handler) settle(r *http.Request, vars *requestVars, c claim, status int, err error) {
	ok := err == nil && status >= 200 && status < 300
	if c.state == claimHeld {
		if ok {
			h.commit(c)
		} else {
			h.release(c)
		}
	}
	outcome := outcomeUpstreamFailed
	if ok {
		outcome = outcomeForwarded
	}
	vars.outcome = outcome
	countOutcome(outcome)
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
	default:
		metricStoreErrors.WithLabelValues("commit").Inc()
		h.logger.Error("dedupe commit failed; a retry of this event may be forwarded again",
			zap.String("dedupe_key", c.key.Display()), zap.Error(err))
	}
}

// evicted counts a key the full memory store evicted to make room, and
// warns when it was young enough that the sender may still retry it.
func (h *Handler) evicted(e dedupe.Eviction) {
	metricEvictions.Inc()
	if e.Age > 0 && e.Age < time.Duration(h.Dedupe.EvictWarnAge) {
		h.logger.Warn("dedupe store full: evicted a recently delivered key; a retry of that event would be forwarded again (raise max_keys)",
			zap.String("reason", "dedupe_evicted_young"), zap.Duration("age", e.Age),
			zap.Duration("evict_warn_age", time.Duration(h.Dedupe.EvictWarnAge)), zap.Int("max_keys", h.Dedupe.MaxKeys))
	}
}

func (h *Handler) release(c claim) {
	if err := h.store.Release(context.Background(), c.key.Store, c.token); err != nil && !errors.Is(err, dedupe.ErrClaimLost) {
		metricStoreErrors.WithLabelValues("release").Inc()
		h.logger.Error("dedupe release failed; retries wait for inflight_timeout",
			zap.String("dedupe_key", c.key.Display()), zap.Error(err))
	}
}

// answer writes a deliberate 200 for an event the gateway settles itself
// (duplicate or ignored), so the sender stops retrying. It logs at debug
// level: retries are routine, and the metric counts them.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, vars *requestVars, outcome string) error {
	vars.outcome = outcome
	countOutcome(outcome)
	h.log(zapcore.DebugLevel, "event acknowledged without forwarding", r,
		zap.String("outcome", outcome), zap.String("dedupe_key", vars.key))
	hdr := w.Header()
	hdr[HeaderOutcome] = outcomeHeaders[outcome]
	hdr["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, outcomeBodies[outcome])
	return err
}

// Shared header values and bodies of the answers the gateway writes itself.
var (
	headerTrue      = []string{"true"}
	jsonContentType = []string{"application/json"}
	outcomeHeaders  = map[string][]string{outcomeDuplicate: {outcomeDuplicate}, outcomeIgnored: {outcomeIgnored}}
	outcomeBodies   = map[string]string{
		outcomeDuplicate: `{"outcome":"duplicate"}` + "\n",
		outcomeIgnored:   `{"outcome":"ignored"}` + "\n",
	}
)

// reject answers a request that failed a check, through the site's
// handle_errors.
func (h *Handler) reject(r *http.Request, vars *requestVars, rej *gateway.Rejection) error {
	vars.outcome, vars.reason = outcomeRejected, rej.Reason
	countOutcome(outcomeRejected)
	metricRejections.WithLabelValues(rej.Reason).Inc()
	level := zapcore.WarnLevel
	switch rej {
	case gateway.ErrMethod:
		level = zapcore.DebugLevel // scanners and health checks
	case gateway.ErrBodyRead:
		level = zapcore.InfoLevel // the client went away
	}
	h.log(level, "webhook rejected", r, zap.String("reason", rej.Reason), zap.Int("status", rej.Status))
	return caddyhttp.Error(rej.Status, rej.Err)
}

// unavailable answers 503 for a store that cannot take the event.
func (h *Handler) unavailable(vars *requestVars, reason string, err error) error {
	vars.outcome, vars.reason = outcomeUnavailable, reason
	countOutcome(outcomeUnavailable)
	metricRejections.WithLabelValues(reason).Inc()
	return caddyhttp.Error(http.StatusServiceUnavailable, err)
}

// log writes one line with the remote address; it checks the level first so
// that a disabled level costs no field allocations.
func (h *Handler) log(level zapcore.Level, msg string, r *http.Request, fields ...zap.Field) {
	if ce := h.logger.Check(level, msg); ce != nil {
		ce.Write(append(fields, zap.String("remote_addr", r.RemoteAddr))...)
	}
}

// inFlightRetryAfter is the Retry-After answer to a copy that arrives while
// another is in flight: by then the first copy has been settled or its
// claim lapsed.
func (h *Handler) inFlightRetryAfter() string {
	secs := int(math.Ceil(time.Duration(h.Dedupe.InflightTimeout).Seconds()))
	return strconv.Itoa(max(secs, 1))
}

// stripGatewayHeaders removes request headers only the gateway may set.
func stripGatewayHeaders(hdr http.Header) {
	for name := range hdr {
		if len(name) >= len(gatewayHeaderStart) && strings.EqualFold(name[:len(gatewayHeaderStart)], gatewayHeaderStart) {
			delete(hdr, name)
		}
	}
}

// bufferedBody replays the verified body to the next handler.
type bufferedBody struct{ bytes.Reader }

func (*bufferedBody) Close() error { return nil }

// maxKeyHeader bounds X-Scgate-Dedupe-Key: an upstream with small header
// limits would answer a long signed id with 431 on every retry.
const maxKeyHeader = 200

// dedupeKeyHeader is the value of X-Scgate-Dedupe-Key: the key, or past
// maxKeyHeader bytes "sha256:" and the hex SHA-256 of the key (a default
// key starts with a quote, so the two forms never meet).
func dedupeKeyHeader(key string) string {
	if len(key) > maxKeyHeader {
		sum := sha256.Sum256([]byte(key))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return headerSafe(key)
}

// headerSafe returns s, or, when it has control bytes (a key template can
// put a signed value with a newline in it), s with those and '%'
// percent-encoded: such a header would make every retry fail in the
// transport.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return encodeHeader(s)
		}
	}
	return s
}

func encodeHeader(s string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '%' {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
