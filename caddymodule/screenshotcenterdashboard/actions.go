package screenshotcenterdashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/caddymodule/internal/sameorigin"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

// An action (retry, replay, deliver now) is a POST of a form from the dashboard's own
// pages. A page of another site must not be able to make the operator's
// browser post one (cross-site request forgery: the browser would add the
// operator's basic_auth credentials or cookies). Three checks stop it, in
// this order:
//
//   - a request whose Sec-Fetch-Site or Origin shows a page of another
//     origin is refused (package sameorigin), which covers every current
//     browser;
//   - the form must carry the process's token, a random value made at
//     start and only written into the dashboard's own pages (a page of
//     another origin cannot read them), for browsers that send neither
//     header;
//   - the form must be application/x-www-form-urlencoded.
//
// Every refusal is a 403 (415 for the form type) with a reason code in the
// log. read_only refuses every action with 403.

// processToken is the token of this process's forms.
var processToken = newToken()

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// Why an action is refused.
var (
	errReadOnly = errors.New("the dashboard is read-only")
	errToken    = errors.New("the form's token is missing or wrong (reload the page)")
	errForm     = errors.New("the action must be a form post (application/x-www-form-urlencoded)")
)

// post checks an action request and runs fn, then sends the browser to
// the page fn names (relative to the dashboard's root) with 303.
func (h *Handler) post(w http.ResponseWriter, r *http.Request, fn func(*http.Request) (string, error)) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.fail(w, r, http.StatusMethodNotAllowed, "method", errors.New("use POST"))
	}
	if h.ReadOnly {
		return h.fail(w, r, http.StatusForbidden, "read_only", errReadOnly)
	}
	if err := sameorigin.Check(r); err != nil {
		return h.fail(w, r, http.StatusForbidden, "cross_site", err)
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		return h.fail(w, r, http.StatusUnsupportedMediaType, "not_a_form", errForm)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		return h.fail(w, r, http.StatusBadRequest, "bad_form", err)
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(processToken)) != 1 {
		return h.fail(w, r, http.StatusForbidden, "bad_token", errToken)
	}
	to, err := fn(r)
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) {
			return h.fail(w, r, he.StatusCode, he.ID, he.Err)
		}
		return h.fail(w, r, http.StatusInternalServerError, "action_failed", err)
	}
	// Relative to the request's URL as the browser sees it (http.Redirect
	// would make it absolute from the path handle_path stripped).
	w.Header().Set("Location", base(r.URL.Path)+to)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// act retries, replays or delivers now (a pending one, after an outage)
// one delivery.
func (h *Handler) act(r *http.Request, id, action string) (string, error) {
	st, d, _, err := findStore(id)
	if err != nil {
		return "", err
	}
	q := st.Open()
	if q == nil { // closed since
		return "", errNotFound
	}
	switch action {
	case "retry":
		// A retry is a replay of a failed or gone delivery (what every
		// store has); the store refuses a pending one either way.
		if d.State != sender.StateFailed && d.State != sender.StateGone {
			err = fmt.Errorf("%w (not %s)", sender.ErrNotRetryable, d.State)
		} else {
			_, err = q.Replay(id)
		}
	case "deliver-now":
		_, err = q.DeliverNow(id)
	default:
		_, err = q.Replay(id)
	}
	switch {
	case errors.Is(err, sender.ErrNotRetryable) || errors.Is(err, sender.ErrNotReplayable):
		return "", caddyhttp.HandlerError{StatusCode: http.StatusConflict, ID: "not_final", Err: err}
	case errors.Is(err, sender.ErrNotPending):
		return "", caddyhttp.HandlerError{StatusCode: http.StatusConflict, ID: "not_pending", Err: err}
	case errors.Is(err, sender.ErrHeldBack):
		return "", caddyhttp.HandlerError{StatusCode: http.StatusConflict, ID: "held_back", Err: err}
	case errors.Is(err, inbox.ErrUnsupported):
		return "", caddyhttp.HandlerError{StatusCode: http.StatusNotImplemented, ID: "unsupported", Err: err}
	}
	if err != nil {
		return "", err
	}
	h.logger.Info("delivery queued again from the dashboard", zap.String("action", action),
		zap.String("delivery", id), zap.String("store", st.Path))
	return "deliveries/" + url.PathEscape(id) + "?done=" + action, nil
}

// bulk retries (failed, gone) or replays (delivered too) every delivery
// in a state that became final within a time range, in every store or the
// one named.
func (h *Handler) bulk(r *http.Request) (string, error) {
	f := r.PostForm
	bad := func(err error) error {
		return caddyhttp.HandlerError{StatusCode: http.StatusBadRequest, ID: "bad_form", Err: err}
	}
	state, err := sender.ParseState(f.Get("state"))
	if err != nil {
		return "", bad(err)
	}
	action := f.Get("action")
	if action != "retry" && action != "replay" {
		return "", bad(fmt.Errorf("action must be retry or replay, got %q", action))
	}
	if action == "retry" && state != sender.StateFailed && state != sender.StateGone {
		return "", bad(fmt.Errorf("only failed or gone deliveries can be retried, not %s (replay them)", state))
	}
	now := time.Now()
	var from, to time.Time
	if v := f.Get("since"); v != "" {
		if from, err = parseSince(v, now); err != nil {
			return "", bad(err)
		}
	}
	if v := f.Get("until"); v != "" {
		if to, err = parseSince(v, now); err != nil {
			return "", bad(err)
		}
	}
	n := 0
	for _, st := range registry.Stores() {
		if store := f.Get("store"); store != "" && st.Path != store {
			continue
		}
		q := st.Open()
		if q == nil {
			continue
		}
		ds, err := q.ReplayAll(state, from, to)
		if errors.Is(err, sender.ErrNotRetryable) || errors.Is(err, sender.ErrNotReplayable) {
			return "", bad(err)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", st.Path, err)
		}
		n += len(ds)
	}
	h.logger.Info("deliveries queued again from the dashboard", zap.String("action", action),
		zap.String("state", string(state)), zap.Int("deliveries", n))
	return fmt.Sprintf("deliveries?state=pending&done=%s&n=%d", action, n), nil
}
