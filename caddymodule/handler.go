package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/event"
	"github.com/scgate/scgate/gateway"
)

// Headers the gateway sets: on the response (outcome of a request it
// answered itself) and on the request passed upstream. Incoming request
// headers with the X-Scgate- prefix are removed so none can be spoofed.
const (
	HeaderOutcome      = "X-Scgate-Outcome"
	HeaderVerified     = "X-Scgate-Verified"
	HeaderDedupeKey    = "X-Scgate-Dedupe-Key"
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
	errNoUp          = errors.New("no handler after screenshotcenter_webhook answered the request")
	errKeyUnresolved = &gateway.Rejection{Status: http.StatusBadRequest, Reason: "dedupe_key_unresolved",
		Err: errors.New("the dedupe key template has a placeholder this event does not have")}
	errStoreFull = errors.New("dedupe store is full")
	errStore     = errors.New("dedupe store unavailable")
	errInFlight  = errors.New("a copy of this event is being delivered")
)

// nowFunc is the clock used for max_age; tests may replace it.
var nowFunc = time.Now

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	vars := newRequestVars(repl)
	stripGatewayHeaders(r.Header)
	h.boundOnce.Do(h.applyBound)

	ev, rej := h.checker.Check(r, nowFunc())
	if rej != nil {
		if rej.Status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		return h.reject(r, vars, rej)
	}
	vars.body, vars.fields, vars.parsed, vars.secretIndex = ev.Body, ev.Fields, true, ev.SecretIndex
	if ev.Ignored {
		return h.answer(w, r, vars, outcomeIgnored)
	}

	if h.store == nil {
		// dedupe off
		r.Header[HeaderVerified] = headerTrue
		return h.forward(w, r, vars, "", 0, next)
	}

	storeKey, key, rej := h.dedupeKey(r, repl, ev)
	if rej != nil {
		return h.reject(r, vars, rej)
	}
	vars.key = key

	// The claim must not be cut short by a client that hangs up: a claim
	// that landed but whose answer was lost would block retries until it
	// lapses. The store bounds the call with its own timeout.
	state, tok, err := h.store.Claim(context.WithoutCancel(r.Context()), storeKey, time.Duration(h.Dedupe.InflightTimeout))
	if err != nil {
		metricStoreErrors.WithLabelValues("claim").Inc()
		if errors.Is(err, dedupe.ErrFull) {
			w.Header().Set("Retry-After", storeRetryAfter)
			h.log(zapcore.ErrorLevel, "dedupe store is full; refusing new events until keys expire", r,
				zap.String("reason", reasonStoreFull), zap.String("dedupe_key", key), zap.Int("max_keys", h.Dedupe.MaxKeys))
			return h.unavailable(vars, reasonStoreFull, errStoreFull)
		}
		return h.claimFailed(w, r, vars, err, next)
	}
	switch state {
	case dedupe.Done:
		return h.answer(w, r, vars, outcomeDuplicate)
	case dedupe.InFlight:
		w.Header().Set("Retry-After", h.retryAfter())
		vars.outcome = outcomeInFlight
		countOutcome(outcomeInFlight)
		h.log(zapcore.InfoLevel, "copy of an event already in flight", r,
			zap.String("reason", outcomeInFlight), zap.String("dedupe_key", key))
		return caddyhttp.Error(http.StatusConflict, errInFlight)
	}

	r.Header[HeaderVerified] = headerTrue
	r.Header[HeaderDedupeKey] = []string{headerSafe(key)}
	return h.forward(w, r, vars, storeKey, tok, next)
}

// dedupeKey returns the key the store is asked about (the namespace, a
// newline and the dedupe key) and the dedupe key alone (a substring of it).
// A key template with a placeholder that is unknown or empty for this event
// is refused: left as text, it would give different events the same key.
func (h *Handler) dedupeKey(r *http.Request, repl *caddy.Replacer, ev gateway.Event) (storeKey, key string, rej *gateway.Rejection) {
	var buf [512]byte
	b := buf[:0]
	if h.Dedupe.Namespace != "" {
		b = append(b, repl.ReplaceKnown(h.Dedupe.Namespace, "")...)
	} else {
		b = appendDefaultNamespace(b, r)
	}
	b = append(b, '\n')
	n := len(b)
	if h.keyTmpl != "" {
		k, err := repl.ReplaceOrErr(h.keyTmpl, true, true)
		if err != nil || k == "" {
			return "", "", errKeyUnresolved
		}
		b = append(b, k...)
	} else {
		b = event.AppendDefaultKey(b, ev.Fields, ev.Body)
	}
	storeKey = string(b)
	return storeKey, storeKey[n:], nil
}

// appendDefaultNamespace appends the request's host (lowercased, without
// port) and path: deliveries of one event to two different webhook URLs,
// say two applications behind one Caddy, are then deduplicated separately,
// while replicas behind a load balancer, which see the same host and path,
// share their keys.
func appendDefaultNamespace(b []byte, r *http.Request) []byte {
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, r.URL.Path...)
}

// displayKey is the dedupe key of a store key, without its namespace.
func displayKey(storeKey string) string {
	_, key, _ := strings.Cut(storeKey, "\n")
	return key
}

// headerSafe returns s, or s with control bytes percent-encoded when it has
// any: a signed id with a newline must not make every retry fail in the
// transport as an invalid header.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '%' {
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

// headerTrue is the shared value of X-Scgate-Verified.
var headerTrue = []string{"true"}

// bufferedBody replays the verified body to the next handler.
type bufferedBody struct{ bytes.Reader }

func (*bufferedBody) Close() error { return nil }

// forward passes the request on with the buffered body and settles the
// dedupe claim (if key is set) by the upstream's answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, vars *requestVars, key string, tok dedupe.Token, next caddyhttp.Handler) (err error) {
	body := new(bufferedBody)
	body.Reset(vars.body)
	r.Body = body
	if r.ContentLength != int64(len(vars.body)) {
		// It came chunked: pass it on with its length.
		r.ContentLength = int64(len(vars.body))
		r.TransferEncoding = nil
		r.Header.Set("Content-Length", strconv.Itoa(len(vars.body)))
	}
	r.Header.Del("Incremental")

	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	settled := false
	// A later handler may panic: reverse_proxy aborts with
	// http.ErrAbortHandler when the response body breaks off after the
	// upstream already answered. Settle by the status the upstream gave, so
	// an accepted event stays committed and a failed one is retryable.
	defer func() {
		if !settled && key != "" {
			if st := rec.Status(); st >= 200 && st < 300 {
				h.commit(key, tok)
				countOutcome(outcomeForwarded)
			} else {
				h.release(key, tok)
				countOutcome(outcomeUpstreamFailed)
			}
		}
	}()
	err = next.ServeHTTP(rec, r)
	status := rec.Status()
	if err == nil && status == 0 {
		// Nothing answered: the gateway is the last handler. Say so loudly
		// instead of an empty 200 that would make the sender drop the event.
		err = caddyhttp.Error(http.StatusBadGateway, errNoUp)
		h.log(zapcore.ErrorLevel, "no handler after screenshotcenter_webhook wrote a response", r,
			zap.String("reason", reasonNoUpstream))
	}
	ok := err == nil && status >= 200 && status < 300
	outcome := outcomeUpstreamFailed
	if ok {
		outcome = outcomeForwarded
	}
	if key != "" {
		settled = true
		if ok {
			h.commit(key, tok)
		} else {
			h.release(key, tok)
		}
	}
	vars.outcome = outcome
	countOutcome(outcome)
	if ok {
		h.log(zapcore.DebugLevel, "event forwarded", r, zap.String("dedupe_key", vars.key), zap.Int("status", status))
	} else {
		h.log(zapcore.WarnLevel, "upstream did not accept the event; released for retry", r,
			zap.String("reason", outcomeUpstreamFailed), zap.String("dedupe_key", vars.key), zap.Int("status", status), zap.Error(err))
	}
	return err
}

// commit and release run on a context detached from the request: a client
// that hangs up after the upstream accepted must not undo the commit.
func (h *Handler) commit(key string, tok dedupe.Token) {
	ctx := context.Background()
	if err := h.store.Commit(ctx, key, tok, time.Duration(h.Dedupe.TTL)); err != nil {
		if errors.Is(err, dedupe.ErrClaimLost) {
			h.logger.Warn("dedupe claim expired before the upstream answered; another copy may have been forwarded (raise inflight_timeout)",
				zap.String("dedupe_key", displayKey(key)))
			return
		}
		metricStoreErrors.WithLabelValues("commit").Inc()
		if errors.Is(err, dedupe.ErrCommitPending) {
			h.logger.Warn("dedupe commit deferred; retried in the background until the store answers",
				zap.String("reason", "dedupe_commit_pending"), zap.String("dedupe_key", displayKey(key)), zap.Error(err))
			return
		}
		h.logger.Error("dedupe commit failed; a retry of this event may be forwarded again",
			zap.String("dedupe_key", displayKey(key)), zap.Error(err))
	}
}

func (h *Handler) release(key string, tok dedupe.Token) {
	if err := h.store.Release(context.Background(), key, tok); err != nil && !errors.Is(err, dedupe.ErrClaimLost) {
		metricStoreErrors.WithLabelValues("release").Inc()
		h.logger.Error("dedupe release failed; retries wait for inflight_timeout",
			zap.String("dedupe_key", displayKey(key)), zap.Error(err))
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
	jsonContentType = []string{"application/json"}
	outcomeHeaders  = map[string][]string{outcomeDuplicate: {outcomeDuplicate}, outcomeIgnored: {outcomeIgnored}}
	outcomeBodies   = map[string]string{
		outcomeDuplicate: `{"outcome":"duplicate"}` + "\n",
		outcomeIgnored:   `{"outcome":"ignored"}` + "\n",
	}
)

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

// retryAfter is the Retry-After answer to a copy that arrives while another
// is in flight: by then the first copy has been settled or its claim lapsed.
func (h *Handler) retryAfter() string {
	secs := int(math.Ceil(time.Duration(h.Dedupe.InflightTimeout).Seconds()))
	if secs < 1 {
		secs = 1
	}
	return strconv.Itoa(secs)
}

// stripGatewayHeaders removes request headers only the gateway may set.
func stripGatewayHeaders(hdr http.Header) {
	for name := range hdr {
		if len(name) >= len(gatewayHeaderStart) && strings.EqualFold(name[:len(gatewayHeaderStart)], gatewayHeaderStart) {
			delete(hdr, name)
		}
	}
}
