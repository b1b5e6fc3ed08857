package caddymodule

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
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/event"
	"github.com/scgate/scgate/verifier"
)

const placeholderPrefix = "http.screenshotcenter_webhook."

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

// Reason codes of rejections that are not about the body's content (those
// come from event.Error).
const (
	reasonMethod            = "method_not_allowed"
	reasonTooLarge          = "body_too_large"
	reasonBodyRead          = "body_read_failed"
	reasonSigMissing        = "signature_missing"
	reasonSigMalformed      = "signature_malformed"
	reasonSigMismatch       = "signature_mismatch"
	reasonEventHeader       = "event_header_mismatch"
	reasonCreatedAtMissing  = "created_at_missing"
	reasonCreatedAtInvalid  = "created_at_invalid"
	reasonCreatedAtTooOld   = "created_at_too_old"
	reasonCreatedAtInFuture = "created_at_in_future"
	reasonEmptyKey          = "dedupe_key_empty"
	reasonStoreFull         = "dedupe_store_full"
	reasonStoreError        = "dedupe_store_error"
	reasonNoUpstream        = "no_upstream_response"
)

var (
	errMethod    = errors.New("only POST is accepted")
	errTooLarge  = errors.New("body larger than max_body")
	errBodyRead  = errors.New("reading the request body failed")
	errNoUp      = errors.New("no handler after screenshotcenter_webhook answered the request")
	errEventHdr  = errors.New("X-ScreenshotCenter-Event differs from the body's event")
	errEmptyKey  = errors.New("dedupe key resolved to an empty string")
	errStoreFull = errors.New("dedupe store is full")
	errStore     = errors.New("dedupe store unavailable")
)

// nowFunc is the clock used for max_age; tests may replace it.
var nowFunc = time.Now

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	stripGatewayHeaders(r.Header)

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(r, repl, http.StatusMethodNotAllowed, reasonMethod, errMethod, zapcore.DebugLevel)
	}
	if r.ContentLength > h.MaxBody {
		return h.reject(r, repl, http.StatusRequestEntityTooLarge, reasonTooLarge, errTooLarge, zapcore.WarnLevel)
	}
	body, err := readBody(r.Body, r.ContentLength, h.MaxBody)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return h.reject(r, repl, http.StatusRequestEntityTooLarge, reasonTooLarge, errTooLarge, zapcore.WarnLevel)
		}
		// The client went away or sent a broken body: nothing was claimed.
		return h.reject(r, repl, http.StatusBadRequest, reasonBodyRead, errBodyRead, zapcore.InfoLevel)
	}

	// Verify before anything reads the body, so unsigned traffic never
	// reaches the parser or the dedupe store.
	secretIndex, err := h.verifier.Verify(body, h.signatureValues(r.Header))
	if err != nil {
		reason := reasonSigMismatch
		switch {
		case errors.Is(err, verifier.ErrNoSignature):
			reason = reasonSigMissing
		case errors.Is(err, verifier.ErrMalformedSignature):
			reason = reasonSigMalformed
		}
		return h.reject(r, repl, http.StatusUnauthorized, reason, err, zapcore.WarnLevel)
	}
	repl.Set(placeholderPrefix+"secret_index", secretIndex)

	fields, err := event.Parse(body)
	if err != nil {
		reason := "body_invalid"
		var pe *event.Error
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		return h.reject(r, repl, http.StatusBadRequest, reason, err, zapcore.WarnLevel)
	}
	eventName := string(fields.Event)
	repl.Set(placeholderPrefix+"event", eventName)
	setIfPresent(repl, "screenshot_id", fields.ScreenshotID)
	setIfPresent(repl, "batch_id", fields.BatchID)
	setIfPresent(repl, "created_at", fields.CreatedAt)
	// The event header is not signed; the body is the truth, and a request
	// where the two disagree is refused so no reader can be misled.
	for _, v := range r.Header.Values(event.HeaderEvent) {
		if v != eventName {
			return h.reject(r, repl, http.StatusBadRequest, reasonEventHeader, errEventHdr, zapcore.WarnLevel)
		}
	}

	if h.MaxAge > 0 {
		if reason, err := checkAge(fields.CreatedAt, time.Duration(h.MaxAge), nowFunc()); err != nil {
			return h.reject(r, repl, http.StatusUnauthorized, reason, err, zapcore.WarnLevel)
		}
	}

	if h.events != nil {
		if _, ok := h.events[eventName]; !ok {
			return h.answer(w, r, repl, outcomeIgnored, zapcore.DebugLevel)
		}
	}

	if h.store == nil {
		// dedupe off
		r.Header.Set(HeaderVerified, "true")
		return h.forward(w, r, repl, body, "", 0, next)
	}

	var key string
	if h.keyTmpl != "" {
		if h.keyUsesSum {
			sum := sha256.Sum256(body)
			repl.Set(placeholderPrefix+"body_sha256", hex.EncodeToString(sum[:]))
		}
		key = repl.ReplaceKnown(h.keyTmpl, "")
		if key == "" {
			return h.reject(r, repl, http.StatusBadRequest, reasonEmptyKey, errEmptyKey, zapcore.WarnLevel)
		}
	} else {
		key = event.DefaultKey(fields, body)
	}
	repl.Set(placeholderPrefix+"dedupe_key", key)

	state, tok, err := h.store.Claim(r.Context(), key, time.Duration(h.Dedupe.InflightTimeout))
	if err != nil {
		metricStoreErrors.WithLabelValues("claim").Inc()
		if errors.Is(err, dedupe.ErrFull) {
			w.Header().Set("Retry-After", storeRetryAfter)
			h.logger.Error("dedupe store is full; refusing new events until keys expire",
				zap.String("dedupe_key", key), zap.Int("max_keys", h.Dedupe.MaxKeys))
			return h.unavailable(r, repl, reasonStoreFull, errStoreFull)
		}
		return h.claimFailed(w, r, repl, body, key, err, next)
	}
	switch state {
	case dedupe.Done:
		return h.answer(w, r, repl, outcomeDuplicate, zapcore.InfoLevel)
	case dedupe.InFlight:
		w.Header().Set("Retry-After", h.retryAfter())
		repl.Set(placeholderPrefix+"outcome", outcomeInFlight)
		metricRequests.WithLabelValues(outcomeInFlight).Inc()
		h.log(zapcore.InfoLevel, "copy of an event already in flight", r,
			zap.String("dedupe_key", key))
		return caddyhttp.Error(http.StatusConflict, errors.New("a copy of this event is being delivered"))
	}

	r.Header.Set(HeaderVerified, "true")
	r.Header.Set(HeaderDedupeKey, key)
	return h.forward(w, r, repl, body, key, tok, next)
}

// forward passes the request on with the buffered body and settles the
// dedupe claim (if key is set) by the upstream's answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, body []byte, key string, tok dedupe.Token, next caddyhttp.Handler) (err error) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.Header.Del("Incremental")

	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	settled := false
	// A panic in a later handler must not leave the claim to block retries
	// until it times out.
	defer func() {
		if !settled && key != "" {
			h.release(key, tok)
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
	repl.Set(placeholderPrefix+"outcome", outcome)
	metricRequests.WithLabelValues(outcome).Inc()
	if ok {
		h.log(zapcore.DebugLevel, "event forwarded", r, zap.String("dedupe_key", key), zap.Int("status", status))
	} else {
		h.log(zapcore.WarnLevel, "upstream did not accept the event; released for retry", r,
			zap.String("dedupe_key", key), zap.Int("status", status), zap.Error(err))
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
				zap.String("dedupe_key", key))
			return
		}
		metricStoreErrors.WithLabelValues("commit").Inc()
		h.logger.Error("dedupe commit failed; a retry of this event may be forwarded again",
			zap.String("dedupe_key", key), zap.Error(err))
	}
}

func (h *Handler) release(key string, tok dedupe.Token) {
	if err := h.store.Release(context.Background(), key, tok); err != nil && !errors.Is(err, dedupe.ErrClaimLost) {
		metricStoreErrors.WithLabelValues("release").Inc()
		h.logger.Error("dedupe release failed; retries wait for inflight_timeout",
			zap.String("dedupe_key", key), zap.Error(err))
	}
}

// answer writes a deliberate 200 for an event the gateway settles itself
// (duplicate or ignored), so the sender stops retrying.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, repl *caddy.Replacer, outcome string, level zapcore.Level) error {
	repl.Set(placeholderPrefix+"outcome", outcome)
	metricRequests.WithLabelValues(outcome).Inc()
	h.log(level, "event acknowledged without forwarding", r, zap.String("outcome", outcome))
	hdr := w.Header()
	hdr.Set(HeaderOutcome, outcome)
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := io.WriteString(w, `{"outcome":"`+outcome+`"}`+"\n")
	return err
}

func (h *Handler) reject(r *http.Request, repl *caddy.Replacer, status int, reason string, err error, level zapcore.Level) error {
	repl.Set(placeholderPrefix+"outcome", outcomeRejected)
	repl.Set(placeholderPrefix+"reason", reason)
	metricRequests.WithLabelValues(outcomeRejected).Inc()
	metricRejections.WithLabelValues(reason).Inc()
	h.log(level, "webhook rejected", r, zap.String("reason", reason), zap.Int("status", status))
	return caddyhttp.Error(status, err)
}

func (h *Handler) unavailable(r *http.Request, repl *caddy.Replacer, reason string, err error) error {
	repl.Set(placeholderPrefix+"outcome", outcomeUnavailable)
	repl.Set(placeholderPrefix+"reason", reason)
	metricRequests.WithLabelValues(outcomeUnavailable).Inc()
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

// signatureValues returns the lines of the first configured signature header
// present in the request.
func (h *Handler) signatureValues(hdr http.Header) []string {
	for _, name := range h.SignatureHeaders {
		if v := hdr.Values(name); len(v) > 0 {
			return v
		}
	}
	return nil
}

func setIfPresent(repl *caddy.Replacer, name string, v []byte) {
	if v != nil {
		repl.Set(placeholderPrefix+name, string(v))
	}
}

// stripGatewayHeaders removes request headers only the gateway may set.
func stripGatewayHeaders(hdr http.Header) {
	for name := range hdr {
		if len(name) >= len(gatewayHeaderStart) && strings.EqualFold(name[:len(gatewayHeaderStart)], gatewayHeaderStart) {
			delete(hdr, name)
		}
	}
}

// checkAge enforces the replay window on the signed created_at.
func checkAge(createdAt []byte, maxAge time.Duration, now time.Time) (string, error) {
	if createdAt == nil {
		return reasonCreatedAtMissing, errors.New("created_at is missing and max_age is set")
	}
	t, err := time.Parse(time.RFC3339Nano, string(createdAt))
	if err != nil {
		return reasonCreatedAtInvalid, errors.New("created_at is not an RFC 3339 time")
	}
	if now.Sub(t) > maxAge {
		return reasonCreatedAtTooOld, errors.New("created_at is older than max_age")
	}
	if t.Sub(now) > MaxFutureSkew {
		return reasonCreatedAtInFuture, errors.New("created_at is too far in the future")
	}
	return "", nil
}

// readBody reads the whole body, never more than max+1 bytes. With a known
// length it allocates exactly once.
func readBody(body io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength >= 0 {
		buf := make([]byte, contentLength)
		if _, err := io.ReadFull(body, buf); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, errTooLarge
			}
			return nil, err
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, err
	}
	if int64(len(buf)) > max {
		return nil, errTooLarge
	}
	return buf, nil
}
