package screenshotcenterwebhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/flow"
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

// Outcomes, as in the outcome placeholder and metric label (the flow's).
const (
	outcomeForwarded      = flow.Forwarded
	outcomeQueued         = flow.Queued
	outcomeUpstreamFailed = flow.UpstreamFailed
	outcomeDuplicate      = flow.Duplicate
	outcomeInFlight       = flow.InFlight
	outcomeIgnored        = flow.Ignored
	outcomeRejected       = flow.Rejected
	outcomeUnavailable    = flow.Unavailable
)

// refusedDrainGrace bounds the wait for the rest of a refused body before
// the answer.
const refusedDrainGrace = time.Second

var errNoUpstream = errors.New("no handler after screenshotcenter_webhook answered the request")

// logLine is how an outcome is logged: its level and message. It is the
// one table of what the log says of each outcome and refusal.
func logLine(o flow.Outcome) (zapcore.Level, string) {
	switch o.Name {
	case flow.Forwarded:
		return zapcore.DebugLevel, "event forwarded"
	case flow.Queued:
		return zapcore.DebugLevel, "event queued in the inbox"
	case flow.UpstreamFailed:
		return zapcore.WarnLevel, "upstream did not accept the event; released for retry"
	case flow.Duplicate, flow.Ignored:
		return zapcore.DebugLevel, "event acknowledged without forwarding"
	case flow.InFlight:
		return zapcore.InfoLevel, "copy of an event already in flight"
	}
	switch o.Rejection {
	case nil:
	case gateway.ErrMethod:
		return zapcore.DebugLevel, "webhook rejected" // scanners and health checks
	case gateway.ErrBodyRead:
		return zapcore.InfoLevel, "webhook rejected" // the client went away
	case gateway.ErrBufferFull:
		return zapcore.WarnLevel, "body budget used up; answering 503 (raise max_buffered if this is not an attack)"
	case gateway.ErrClientBufferFull:
		return zapcore.WarnLevel, "this client's bodies hold its whole share of the body budget; answering 503 (raise max_buffered_per_client if this is not an attack)"
	case gateway.ErrTooManyStreams:
		return zapcore.WarnLevel, "too many bodies of one connection being read; answering 503 (raise max_streams_per_connection if this is not an attack)"
	case errInboxUnavailable:
		return zapcore.ErrorLevel, "the inbox could not store the event; answering 503 so the sender retries"
	default:
		return zapcore.WarnLevel, "webhook rejected"
	}
	switch o.Reason {
	case flow.ReasonStoreFull:
		return zapcore.ErrorLevel, "dedupe store full of events in flight; refusing new events until some are settled (raise max_keys)"
	case flow.ReasonStoreError:
		return zapcore.ErrorLevel, "dedupe claim failed; answering 503 so the sender retries (on_error closed)"
	}
	return zapcore.WarnLevel, "webhook rejected"
}

// unread reports whether a refused request's body was not read to its
// end (refused by its length, the budget or the stream bound, or not a
// POST).
func unread(o flow.Outcome) bool {
	switch o.Rejection {
	case gateway.ErrMethod, gateway.ErrTooLarge, gateway.ErrBufferFull, gateway.ErrClientBufferFull, gateway.ErrTooManyStreams:
		return true
	}
	return false
}

// record is the one outcome hook: every request the handler answers, or
// passes on, goes through it once. It fills the outcome placeholders,
// counts the outcome and the reason, records it in the event log, and
// logs the line of the outcome.
func (h *Handler) record(r *http.Request, vars *requestVars, o flow.Outcome) {
	vars.outcome, vars.reason = o.Name, o.Reason
	h.metrics.outcomes[o.Name].Inc()
	settled := o.Name == flow.Forwarded || o.Name == flow.UpstreamFailed
	if o.Reason != "" && !settled {
		h.metrics.rejections.WithLabelValues(o.Reason).Inc()
	}
	h.logEvent(r, vars, o)
	level, msg := logLine(o)
	ce := h.logger.Check(level, msg)
	if ce == nil {
		return
	}
	var fields []zap.Field
	switch {
	case o.Name == flow.Forwarded:
		fields = append(fields, zap.String("dedupe_key", vars.key), zap.Int("status", o.Status))
	case o.Name == flow.Queued:
		fields = append(fields, zap.String("dedupe_key", vars.key), zap.String("delivery", o.DeliveryID))
	case o.Name == flow.UpstreamFailed:
		fields = append(fields, zap.String("reason", flow.UpstreamFailed), zap.String("dedupe_key", vars.key),
			zap.Int("status", o.Status), zap.Error(o.Err))
	default:
		fields = append(fields, zap.String("outcome", o.Name))
		if o.Reason != "" {
			fields = append(fields, zap.String("reason", o.Reason), zap.Int("status", o.Status))
		}
		if vars.key != "" {
			fields = append(fields, zap.String("dedupe_key", vars.key))
		}
		if o.Err != nil && (o.Reason == flow.ReasonStoreError || o.Rejection == errInboxUnavailable) {
			fields = append(fields, zap.Error(o.Err))
		}
		if h.report {
			fields = append(fields, zap.String("mode", ModeReport), zap.Bool("passed_on", true))
		}
	}
	ce.Write(append(fields, zap.String("remote_addr", r.RemoteAddr))...)
}

// give answers a request with its outcome o, recorded through the one
// hook. In report mode the request is passed on unchanged instead (the
// outcome is still counted, logged and in the placeholders): the gateway
// can be put in front of a live handler first and switched to enforce once
// the metrics show only expected refusals.
func (h *Handler) give(w http.ResponseWriter, r *http.Request, vars *requestVars, ev gateway.Event, o flow.Outcome, next caddyhttp.Handler) error {
	h.record(r, vars, o)
	if h.report {
		// The body as it came: what was read, then whatever was not.
		r.Body = passedBody{Reader: io.MultiReader(bytes.NewReader(ev.Body), r.Body), Closer: r.Body}
		return next.ServeHTTP(w, r)
	}
	if unread(o) {
		// The server discards the rest of a refused body (up to 256 KiB)
		// before it writes the answer, and waits for it: a client that
		// never sends it would hold the answer back until the read
		// timeout. Bound the wait by refusedDrainGrace: a client that is
		// sending gets its answer once its body is in (closing with its
		// bytes unread would reset the connection, and it would see an
		// error instead of the status), one that stalls gets the answer
		// then, and the connection closed.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refusedDrainGrace))
	}
	switch {
	case o.Status == http.StatusOK:
		hdr := w.Header()
		hdr[HeaderOutcome] = outcomeHeaders[o.Name]
		hdr["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, err := io.WriteString(w, outcomeBodies[o.Name])
		return err
	case o.Status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", http.MethodPost)
	case o.RetryAfter != "":
		w.Header().Set("Retry-After", o.RetryAfter)
	}
	return h.fail(w, r, o.Status, o.Reason, o.Err)
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
