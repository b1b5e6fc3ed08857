package screenshotcenterwebhook

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/gateway"
)

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
	errInFlight   = errors.New("a copy of this event is being delivered")
)

// Retry-After values, in seconds, of the 503s: a store that failed comes
// back within this; other bodies are read within body_timeout.
const (
	storeRetryAfter  = "30"
	bufferRetryAfter = "10"
)

// verdict is what the gateway answers instead of forwarding a request.
type verdict struct {
	status     int    // 200 for the answers that settle an event (duplicate, ignored)
	outcome    string // the outcome placeholder and metric label
	reason     string // the reason code; "" for duplicate and ignored
	err        error
	retryAfter string
	level      zapcore.Level
	msg        string
}

// The verdicts that do not depend on the request.
var (
	verdictIgnored   = verdict{status: http.StatusOK, outcome: outcomeIgnored, level: zapcore.DebugLevel, msg: "event acknowledged without forwarding"}
	verdictDuplicate = verdict{status: http.StatusOK, outcome: outcomeDuplicate, level: zapcore.DebugLevel, msg: "event acknowledged without forwarding"}
	verdictInFlight  = verdict{status: http.StatusConflict, outcome: outcomeInFlight, reason: outcomeInFlight, err: errInFlight,
		level: zapcore.InfoLevel, msg: "copy of an event already in flight"}
	verdictStoreFull = verdict{status: http.StatusServiceUnavailable, outcome: outcomeUnavailable, reason: reasonStoreFull,
		err: errors.New("dedupe store is full of events in flight"), retryAfter: storeRetryAfter,
		level: zapcore.ErrorLevel, msg: "dedupe store full of events in flight; refusing new events until some are settled (raise max_keys)"}
	verdictStoreError = verdict{status: http.StatusServiceUnavailable, outcome: outcomeUnavailable, reason: reasonStoreError,
		retryAfter: storeRetryAfter, level: zapcore.ErrorLevel, msg: "dedupe claim failed; answering 503 so the sender retries (on_error closed)"}
)

// rejection is the verdict of a failed check.
func rejection(rej *gateway.Rejection) verdict {
	v := verdict{status: rej.Status, outcome: outcomeRejected, reason: rej.Reason, err: rej.Err, level: zapcore.WarnLevel, msg: "webhook rejected"}
	switch rej {
	case gateway.ErrMethod:
		v.level = zapcore.DebugLevel // scanners and health checks
	case gateway.ErrBodyRead:
		v.level = zapcore.InfoLevel // the client went away
	case gateway.ErrBufferFull:
		v.outcome, v.retryAfter = outcomeUnavailable, bufferRetryAfter
		v.msg = "body budget used up; answering 503 (raise max_buffered if this is not an attack)"
	}
	return v
}

// give answers a request with v, counted and logged. In report mode the
// request is passed on unchanged instead (the verdict is still counted,
// logged and in the placeholders): the gateway can be put in front of a
// live handler first and switched to enforce once the metrics show only
// expected refusals.
func (h *Handler) give(w http.ResponseWriter, r *http.Request, vars *requestVars, ev gateway.Event, v verdict, next caddyhttp.Handler) error {
	vars.outcome, vars.reason = v.outcome, v.reason
	h.metrics.outcomes[v.outcome].Inc()
	if v.reason != "" {
		h.metrics.rejections.WithLabelValues(v.reason).Inc()
	}
	h.record(r, vars, answered{status: v.status, passedOn: h.report})
	if ce := h.logger.Check(v.level, v.msg); ce != nil {
		fields := []zap.Field{zap.String("outcome", v.outcome), zap.String("remote_addr", r.RemoteAddr)}
		if v.reason != "" {
			fields = append(fields, zap.String("reason", v.reason), zap.Int("status", v.status))
		}
		if vars.key != "" {
			fields = append(fields, zap.String("dedupe_key", vars.key))
		}
		if v.err != nil && v.reason == reasonStoreError {
			fields = append(fields, zap.Error(v.err))
		}
		if h.report {
			fields = append(fields, zap.String("mode", ModeReport), zap.Bool("passed_on", true))
		}
		ce.Write(fields...)
	}
	if h.report {
		// The body as it came: what was read, then whatever was not.
		r.Body = passedBody{Reader: io.MultiReader(bytes.NewReader(ev.Body), r.Body), Closer: r.Body}
		return next.ServeHTTP(w, r)
	}
	switch {
	case v.status == http.StatusOK:
		hdr := w.Header()
		hdr[HeaderOutcome] = outcomeHeaders[v.outcome]
		hdr["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, err := io.WriteString(w, outcomeBodies[v.outcome])
		return err
	case v.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case v.retryAfter != "":
		w.Header().Set("Retry-After", v.retryAfter)
	}
	return h.fail(w, r, v.status, v.reason, v.err)
}

// passedBody is a body passed on in report mode.
type passedBody struct {
	io.Reader
	io.Closer
}

// fail answers a request the gateway does not pass on with an error status:
// through the site's handle_errors when it has any (the handler returns the
// error), otherwise with a short JSON body that a sender's delivery log can
// show, e.g. {"status":401,"reason":"signature_mismatch"}. It never holds a
// secret, a MAC or the body: reason is one of the fixed codes.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason string, err error) error {
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.Errors != nil && len(srv.Errors.Routes) > 0 {
		return caddyhttp.Error(status, err)
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, werr := io.WriteString(w, `{"status":`+strconv.Itoa(status)+`,"reason":"`+reason+`"}`+"\n")
	return werr
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

// inFlightRetryAfter is the Retry-After answer to a copy that arrives while
// another is in flight: by then the first copy has been settled or its
// claim lapsed.
func (h *Handler) inFlightRetryAfter() string {
	secs := int(math.Ceil(time.Duration(h.Dedupe.InflightTimeout).Seconds()))
	return strconv.Itoa(max(secs, 1))
}
