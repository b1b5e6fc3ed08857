package scgateevents

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
	"github.com/scgate/scgate/eventlog"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminPath is the path of the event log's admin route.
const adminPath = "/scgate/events"

// DefaultLimit is how many entries a query returns when it does not say.
const DefaultLimit = 100

// adminAPI serves the process's event log on Caddy's admin endpoint:
//
//	GET /scgate/events[?outcome=][&reason=][&event=][&endpoint=][&id=][&since=][&after=][&limit=][&follow=1]
//
// A query answers {"size", "recorded", "events"} with the matching entries
// newest first (limit, default 100, 0 for all). since is an RFC 3339 time
// or a duration back from now (90m, 2d); after is a seq. With follow=1 the
// answer is a stream of JSON lines instead (application/x-ndjson): the
// newest limit matching entries oldest first, then each new one as it is
// recorded; a line {"missed": n} says that n matching entries were left
// out because the reader fell behind. The stream ends when the client goes
// or the config that served it is replaced (reconnect with after=<the last
// seq>). Entries hold no body, signature or secret. The route is exactly as
// protected as Caddy's admin endpoint.
type adminAPI struct {
	ctx caddy.Context
}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.scgate_events",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Provision keeps the config's context: a follow stream ends with it.
func (a *adminAPI) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	return nil
}

// Routes returns the admin route.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminPath, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// Answer is the answer to a query.
type Answer struct {
	// Size is how many entries the log holds at most.
	Size int `json:"size"`
	// Recorded is how many entries were recorded since the process
	// started, the ones no longer held included.
	Recorded uint64 `json:"recorded"`
	// Events are the matching entries, newest first.
	Events []eventlog.Entry `json:"events"`
}

// missedLine is the line of a follow stream that says how many matching
// entries the reader missed.
type missedLine struct {
	Missed uint64 `json:"missed"`
}

func (a *adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return adminapi.Error(http.StatusMethodNotAllowed, "method %s not allowed: use GET", r.Method)
	}
	q, follow, err := parseQuery(r.URL.Query(), time.Now())
	if err != nil {
		return adminapi.Error(http.StatusBadRequest, "%v", err)
	}
	if follow {
		return a.follow(w, r, q)
	}
	return adminapi.WriteJSON(w, Answer{Size: process.Size(), Recorded: process.Recorded(), Events: process.Find(q)})
}

// follow streams the matching entries as JSON lines until the client goes
// or the config ends.
func (a *adminAPI) follow(w http.ResponseWriter, r *http.Request, q eventlog.Query) error {
	backlog, sub := process.Follow(q, 0)
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for i := range backlog {
		if err := enc.Encode(&backlog[i]); err != nil {
			return nil
		}
	}
	var done <-chan struct{}
	if a.ctx.Context != nil {
		done = a.ctx.Done()
	}
	for {
		if rc.Flush() != nil {
			return nil
		}
		select {
		case it, ok := <-sub.C():
			if !ok {
				return nil
			}
			if it.Missed > 0 && enc.Encode(missedLine{Missed: it.Missed}) != nil {
				return nil
			}
			if enc.Encode(&it.Entry) != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-done:
			return nil
		}
	}
}

// parseQuery reads the query parameters of the admin route.
func parseQuery(v url.Values, now time.Time) (eventlog.Query, bool, error) {
	q := eventlog.Query{
		Outcome: v.Get("outcome"), Reason: v.Get("reason"), Event: v.Get("event"),
		Endpoint: v.Get("endpoint"), ID: v.Get("id"), Limit: DefaultLimit,
	}
	if s := v.Get("since"); s != "" {
		t, err := parseSince(s, now)
		if err != nil {
			return q, false, err
		}
		q.Since = t
	}
	if s := v.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, false, fmt.Errorf("after must be a seq (a non-negative integer), got %q", s)
		}
		q.After = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return q, false, fmt.Errorf("limit must be a non-negative integer, got %q", s)
		}
		q.Limit = n
	}
	follow := false
	if s := v.Get("follow"); s != "" {
		var err error
		if follow, err = strconv.ParseBool(s); err != nil {
			return q, false, fmt.Errorf("follow must be 1 or 0, got %q", s)
		}
	}
	return q, follow, nil
}

// parseSince reads a since value: an RFC 3339 time, or a positive duration
// back from now such as 90m or 2d.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := caddy.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("since must be an RFC 3339 time or a positive duration such as 90m or 2d, got %q", s)
	}
	return now.Add(-d), nil
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminAPI)(nil)
	_ caddy.Provisioner = (*adminAPI)(nil)
)
