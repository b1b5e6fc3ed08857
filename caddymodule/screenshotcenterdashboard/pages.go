package screenshotcenterdashboard

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/caddymodule/internal/registry"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/sender"
)

// Bounds of what a page lists.
const (
	// window is the overview's span.
	window = time.Hour
	// defaultEvents and maxEvents bound the event log page.
	defaultEvents, maxEvents = 100, 1000
	// perState is how many deliveries of each state the deliveries page
	// lists per store.
	perState = 50
)

var funcs = template.FuncMap{
	"when":       when,
	"ago":        ago,
	"ms":         ms,
	"pathEscape": pathEscape,
	"redact":     redactURL,
}

// when formats a time in UTC to the second; "" for zero.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long before now t was, rounded.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	default:
		return d.Round(time.Hour).String()
	}
}

// ms formats a duration in milliseconds; "" for zero.
func ms(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// redactURL shows an endpoint without its user info and query values,
// which may hold credentials.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

// count is one row of a table of counts.
type count struct {
	Name string
	N    int
}

// endpointRow counts one endpoint's requests by outcome.
type endpointRow struct {
	Endpoint string
	Total    int
	Outcomes map[string]int
}

// storeSummary is one store on the overview.
type storeSummary struct {
	Kind          registry.Kind
	Path          string
	Open          bool
	Counts        map[sender.State]int
	OldestPending time.Time
	Error         string
}

type overviewData struct {
	Since      time.Time
	Logs       int
	Total      int
	Outcomes   []string
	Endpoints  []endpointRow
	Reasons    []count
	Stores     []storeSummary
	States     []sender.State
	DeadLetter int
}

// overview reads the last hour of every event log and the state of every
// store.
func (h *Handler) overview(*http.Request) (any, error) {
	since := time.Now().Add(-window)
	d := overviewData{Since: since, States: sender.States}
	rows := map[string]*endpointRow{}
	reasons := map[string]int{}
	outcomes := map[string]bool{}
	for _, l := range registry.EventLogs() {
		d.Logs++
		for _, e := range l.Log.Find(eventlog.Query{Since: since}) {
			d.Total++
			row := rows[e.Endpoint]
			if row == nil {
				row = &endpointRow{Endpoint: e.Endpoint, Outcomes: map[string]int{}}
				rows[e.Endpoint] = row
			}
			row.Total++
			row.Outcomes[e.Outcome]++
			outcomes[e.Outcome] = true
			if e.Reason != "" {
				reasons[e.Reason]++
			}
		}
	}
	for o := range outcomes {
		d.Outcomes = append(d.Outcomes, o)
	}
	slices.Sort(d.Outcomes)
	for _, row := range rows {
		d.Endpoints = append(d.Endpoints, *row)
	}
	slices.SortFunc(d.Endpoints, func(a, b endpointRow) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	d.Reasons = sortedCounts(reasons)
	for _, st := range registry.Stores() {
		sum := storeSummary{Kind: st.Kind, Path: st.Path}
		if q := st.Open(); q != nil {
			sum.Open = true
			stats, err := q.Stats()
			sum.Counts, sum.OldestPending = stats.Entries, stats.OldestPending
			if err != nil {
				sum.Error = err.Error()
			}
			d.DeadLetter += sum.Counts[sender.StateFailed]
		}
		d.Stores = append(d.Stores, sum)
	}
	return d, nil
}

// sortedCounts lists m by count, most first, then by name.
func sortedCounts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// eventRow is an entry and the log it is from.
type eventRow struct {
	Log string
	eventlog.Entry
}

type eventsData struct {
	Filter  url.Values
	Logs    int
	Limit   int
	Entries []eventRow
}

// events reads the entries the filters select, newest first.
func (h *Handler) events(r *http.Request) (any, error) {
	q := r.URL.Query()
	query := eventlog.Query{
		Outcome: q.Get("outcome"), Reason: q.Get("reason"), Event: q.Get("event"),
		Endpoint: q.Get("endpoint"), ID: q.Get("id"), Limit: defaultEvents,
	}
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v, time.Now())
		if err != nil {
			return nil, caddyhttp.HandlerError{StatusCode: http.StatusBadRequest, ID: "bad_filter", Err: err}
		}
		query.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxEvents {
			return nil, caddyhttp.HandlerError{StatusCode: http.StatusBadRequest, ID: "bad_filter",
				Err: fmt.Errorf("limit must be between 1 and %d", maxEvents)}
		}
		query.Limit = n
	}
	d := eventsData{Filter: q, Limit: query.Limit}
	for _, l := range registry.EventLogs() {
		d.Logs++
		for _, e := range l.Log.Find(query) {
			d.Entries = append(d.Entries, eventRow{Log: l.Name, Entry: e})
		}
	}
	slices.SortStableFunc(d.Entries, func(a, b eventRow) int { return b.Time.Compare(a.Time) })
	if len(d.Entries) > query.Limit {
		d.Entries = d.Entries[:query.Limit]
	}
	return d, nil
}

// parseSince reads an RFC 3339 time or a duration back from now (90m, 2d).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := caddy.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since must be an RFC 3339 time or a duration such as 90m or 2d, got %q", s)
}

// storeDeliveries is one store on the deliveries page.
type storeDeliveries struct {
	Kind       registry.Kind
	Path       string
	Open       bool
	Counts     map[sender.State]int
	Deliveries []*sender.Delivery
	Error      string
}

type deliveriesData struct {
	Done   string // the bulk action just done, and on how many
	N      string
	State  sender.State
	Store  string
	States []sender.State
	Stores []storeDeliveries
}

// deliveries lists up to perState deliveries of each state (or of the
// state asked for) of every store (or of the one asked for).
func (h *Handler) deliveries(r *http.Request) (any, error) {
	q := r.URL.Query()
	d := deliveriesData{States: sender.States, Store: q.Get("store"), Done: q.Get("done"), N: q.Get("n")}
	states := sender.States
	if v := q.Get("state"); v != "" {
		st, err := sender.ParseState(v)
		if err != nil {
			return nil, caddyhttp.HandlerError{StatusCode: http.StatusBadRequest, ID: "bad_filter", Err: err}
		}
		d.State, states = st, []sender.State{st}
	}
	for _, st := range registry.Stores() {
		if d.Store != "" && st.Path != d.Store {
			continue
		}
		sd := storeDeliveries{Kind: st.Kind, Path: st.Path}
		if q := st.Open(); q != nil {
			sd.Open = true
			stats, err := q.Stats()
			sd.Counts = stats.Entries
			for _, state := range states {
				if err != nil {
					break
				}
				var ds []*sender.Delivery
				ds, err = q.List(state, perState)
				sd.Deliveries = append(sd.Deliveries, ds...)
			}
			if err != nil {
				sd.Error = err.Error()
			}
		}
		d.Stores = append(d.Stores, sd)
	}
	return d, nil
}

// deliveryData is one delivery and its attempt log, without body,
// secret or headers.
type deliveryData struct {
	Kind       registry.Kind
	Store      string
	Delivery   *sender.Delivery
	BodyBytes  int
	Attempts   []sender.Attempt
	Retryable  bool
	Replayable bool
	// DeliverNow offers to make a pending delivery due at once.
	DeliverNow bool
	Done       string
}

// errNotFound is the 404 of an unknown delivery.
var errNotFound = caddyhttp.HandlerError{StatusCode: http.StatusNotFound, ID: "no_delivery", Err: errors.New("no store of this process holds the delivery")}

// delivery finds the delivery id in the registered stores.
func (h *Handler) delivery(r *http.Request, id string) (any, error) {
	st, d, log, err := findStore(id)
	if err != nil {
		return nil, err
	}
	n := len(d.Body)
	view := *d
	view.Body, view.Secret, view.Headers = nil, nil, nil
	return deliveryData{
		Kind: st.Kind, Store: st.Path, Delivery: &view, BodyBytes: n, Attempts: log,
		Retryable:  d.State == sender.StateFailed || d.State == sender.StateGone,
		Replayable: d.State != sender.StatePending,
		DeliverNow: d.State == sender.StatePending,
		Done:       r.URL.Query().Get("done"),
	}, nil
}

// findStore returns the store holding delivery id, the delivery and its
// attempt log; errNotFound if no open store holds it, or the first other
// error of a store (a server that cannot be read).
func findStore(id string) (registry.Store, *sender.Delivery, []sender.Attempt, error) {
	var first error
	for _, st := range registry.Stores() {
		q := st.Open()
		if q == nil {
			continue
		}
		d, log, err := q.Get(id)
		if err == nil {
			return st, d, log, nil
		}
		if !errors.Is(err, sender.ErrNotFound) && first == nil {
			first = fmt.Errorf("%s: %w", st.Path, err)
		}
	}
	if first != nil {
		return registry.Store{}, nil, nil, first
	}
	return registry.Store{}, nil, nil, errNotFound
}
