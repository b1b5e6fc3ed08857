package adminapi

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/sender"
)

// The serving side's shape, the same for the sender's deliveries
// (/scgate/deliveries) and the receiver's inboxes (/scgate/inbox): a base
// path, an id under it, an action under the id; a store query naming one
// file by its absolute path; lists by state with a limit per state; bulk
// actions over a time range.

// Parts returns the segments of path under base: none for base itself.
func Parts(path, base string) []string {
	rest := strings.Trim(strings.TrimPrefix(path, base), "/")
	if rest == "" {
		return nil
	}
	return strings.Split(rest, "/")
}

// MethodError is a 405 with the method to use, for the Allow header.
type MethodError struct {
	error
	Allow string
}

// Unwrap returns the admin API error.
func (e MethodError) Unwrap() error { return e.error }

// NotAllowed is the 405 of a request with method where allow is the one
// method the route takes.
func NotAllowed(method, allow string) error {
	return MethodError{Error(http.StatusMethodNotAllowed, "method %s not allowed: use %s", method, allow), allow}
}

// Handler makes serve an admin handler that sets Allow on a 405
// (NotAllowed): Caddy's admin endpoint takes the status of an error only
// from a caddy.APIError itself, not one wrapped.
func Handler(serve func(http.ResponseWriter, *http.Request) error) caddy.AdminHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := serve(w, r)
		var me MethodError
		if errors.As(err, &me) {
			w.Header().Set("Allow", me.Allow)
			return me.error
		}
		return err
	}
}

// Store reads the store query value: "" (every store) or an absolute
// path, cleaned.
func Store(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if !filepath.IsAbs(v) {
		return "", Error(http.StatusBadRequest, "store must be an absolute path")
	}
	return filepath.Clean(v), nil
}

// ListArgs reads the states (the one named, or every state for "") and
// the limit per state (def when empty, 0 for all) of a list.
func ListArgs(stateName, limitText string, def int) ([]sender.State, int, error) {
	states := sender.States
	if stateName != "" {
		st, err := sender.ParseState(stateName)
		if err != nil {
			return nil, 0, err
		}
		states = []sender.State{st}
	}
	limit := def
	if limitText != "" {
		n, err := strconv.Atoi(limitText)
		if err != nil || n < 0 {
			return nil, 0, errors.New("limit must be a non-negative integer")
		}
		limit = n
	}
	return states, limit, nil
}

// Since reads the since of a bulk action: a positive duration such as
// 90m or 2d (0 for ""), counted back from now.
func Since(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := caddy.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("since must be a positive duration such as 90m or 2d, got %q", v)
	}
	return d, nil
}
