package screenshotcenterwebhook

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

func init() {
	caddy.RegisterModule(inboxAdmin{})
}

// inboxAdminBase is the path of the inbox admin API.
const inboxAdminBase = "/scgate/inbox"

// defaultInboxLimit is how many entries per state a list returns when the
// request does not say.
const defaultInboxLimit = 100

// inboxAdmin serves the entries of the inboxes that the running
// screenshotcenter_webhook handlers have open, on Caddy's admin endpoint,
// so that they can be inspected and replayed while the gateway holds the
// files' locks:
//
//	GET  /scgate/inbox[?store=<abs path>][&state=<state>][&limit=<n>]
//	GET  /scgate/inbox/<id>[?store=<abs path>]
//	POST /scgate/inbox/<id>/replay[?store=<abs path>]
//	POST /scgate/inbox/replay?state=failed|delivered|gone[&since=<duration>|&from=<RFC 3339>][&to=<RFC 3339>][&store=<abs path>]
//	POST /scgate/inbox/<id>/retry[?store=<abs path>]
//	POST /scgate/inbox/retry?state=pending[&store=<abs path>]
//
// A list returns every inbox of the process (or the one named), with its
// counts by state, its oldest pending entry and up to limit entries per
// state (default 100, 0 for all; every state, or the one named). A replay
// queues a delivered, failed or gone entry again, due now, with a fresh
// attempt budget; its attempt numbers go on. The bulk replay queues every
// entry in the state that became so in the time range. A retry makes a
// pending entry waiting for its next attempt due now (the application is
// back from an outage): the same entry, its attempt budget going on,
// still behind an earlier entry of its order key and within concurrency
// and rate; the bulk retry does so for every pending entry. Nothing it returns
// holds a body or a header (a signature, an Authorization): only their
// sizes and the dedupe key. It is exactly as protected as Caddy's admin
// endpoint: whoever reaches that can read entry metadata and replay
// events to the application (as they can already replace the config).
type inboxAdmin struct{}

// CaddyModule returns the Caddy module information.
func (inboxAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.scgate_inbox",
		New: func() caddy.Module { return new(inboxAdmin) },
	}
}

// Routes returns the admin routes.
func (a *inboxAdmin) Routes() []caddy.AdminRoute {
	h := adminapi.Handler(a.serve)
	return []caddy.AdminRoute{{Pattern: inboxAdminBase, Handler: h}, {Pattern: inboxAdminBase + "/", Handler: h}}
}

// inboxSource is an inbox the admin API and `scgate inbox` read: one a
// running config holds open (an inbox.Engine), or a file the command
// opened itself (*inbox.File).
type inboxSource interface {
	Stats() (inbox.Stats, error)
	List(state inbox.State, limit int) ([]*inbox.Entry, error)
	Get(id string) (*inbox.Entry, []inbox.Attempt, error)
	Replay(id string) (*inbox.Entry, error)
	ReplayAll(state inbox.State, from, to time.Time) ([]*inbox.Entry, error)
	DeliverNow(id string) (*inbox.Entry, error)
	DeliverAllNow() ([]*inbox.Entry, error)
}

// namedInbox is one inbox of a list: its file, the endpoint label of the
// handler that started it, and the inbox, nil when no config using the
// file has started yet.
type namedInbox struct {
	path, endpoint string
	src            inboxSource
}

// inboxList is the answer of a list: the inboxes, by store path.
type inboxList struct {
	Stores []inboxStore `json:"stores"`
}

type inboxStore struct {
	Store    string `json:"store"`
	Endpoint string `json:"endpoint,omitempty"`
	// Open is false for a store no config using it has started.
	Open          bool           `json:"open"`
	Counts        map[string]int `json:"counts,omitempty"`
	OldestPending time.Time      `json:"oldest_pending,omitzero"`
	Entries       []*entryView   `json:"entries"`
}

// entryView is an entry as shown: its metadata, dedupe key, body size
// and attempt log; never its body or headers.
type entryView struct {
	*sender.Delivery
	DedupeKey string `json:"dedupe_key,omitempty"`
	// BodyBytes is the body's size, in a show only: a list and a replay
	// do not read bodies.
	BodyBytes *int            `json:"body_bytes,omitempty"`
	Log       []inbox.Attempt `json:"attempts_log,omitempty"`
}

func newEntryView(e *inbox.Entry, log []inbox.Attempt) *entryView {
	v := &entryView{Delivery: e.Delivery, DedupeKey: e.DedupeKey(), Log: log}
	if e.Body != nil {
		n := len(e.Body)
		v.BodyBytes = &n
	}
	return v
}

// bodySize returns the body's size, 0 when the answer did not give it.
func (v *entryView) bodySize() int {
	if v.BodyBytes == nil {
		return 0
	}
	return *v.BodyBytes
}

// entryAnswer is the answer of a show and of a replay of one entry.
type entryAnswer struct {
	Store string     `json:"store"`
	Entry *entryView `json:"entry"`
}

// replayedAnswer lists, by store, the ids a bulk replay queued again.
type replayedAnswer struct {
	Stores []storeReplayed `json:"stores"`
}

type storeReplayed struct {
	Store    string   `json:"store"`
	Replayed []string `json:"replayed"`
}

// retriedAnswer lists, by store, the ids a bulk retry made due now.
type retriedAnswer struct {
	Stores []storeRetried `json:"stores"`
}

type storeRetried struct {
	Store   string   `json:"store"`
	Retried []string `json:"retried"`
}

func (a *inboxAdmin) serve(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	srcs, err := openInboxes(q.Get("store"))
	if err != nil {
		return err
	}
	ans, err := answerInbox(srcs, r.Method, r.URL.Path, q, time.Now())
	if err != nil {
		return err
	}
	return adminapi.WriteJSON(w, ans)
}

// answerInbox answers a request of the inbox admin API (method, path and
// query, as listed on inboxAdmin) on srcs: the admin endpoint for the
// inboxes of the running configs, `scgate inbox` for a file it opened
// itself, so that both give the same answers. Errors are admin API errors
// with their status.
func answerInbox(srcs []namedInbox, method, path string, q url.Values, now time.Time) (any, error) {
	parts := adminapi.Parts(path, inboxAdminBase)
	switch {
	case len(parts) == 0 && method == http.MethodGet:
		states, limit, err := adminapi.ListArgs(q.Get("state"), q.Get("limit"), defaultInboxLimit)
		if err != nil {
			return nil, adminapi.Error(http.StatusBadRequest, "%v", err)
		}
		ans, err := listInboxes(srcs, states, limit)
		if err != nil {
			return nil, adminapi.Error(http.StatusInternalServerError, "%v", err)
		}
		return ans, nil
	case len(parts) == 1 && parts[0] == "replay" && method == http.MethodPost:
		state, from, to, err := replayArgs(q.Get("state"), q.Get("since"), q.Get("from"), q.Get("to"), now)
		if err != nil {
			return nil, adminapi.Error(http.StatusBadRequest, "%v", err)
		}
		ans, err := replayInboxes(srcs, state, from, to)
		if err != nil {
			return nil, adminapi.Error(http.StatusInternalServerError, "%v", err)
		}
		return ans, nil
	case len(parts) == 1 && parts[0] == "retry" && method == http.MethodPost:
		if err := retryArgs(q.Get("state")); err != nil {
			return nil, adminapi.Error(http.StatusBadRequest, "%v", err)
		}
		ans, err := retryInboxes(srcs)
		if err != nil {
			return nil, entryError(err)
		}
		return ans, nil
	case len(parts) == 1 && !bulkAction(parts[0]) && method == http.MethodGet:
		ans, err := showEntry(srcs, parts[0])
		if err != nil {
			return nil, entryError(err)
		}
		return ans, nil
	case len(parts) == 2 && parts[1] == "replay" && method == http.MethodPost:
		ans, err := replayEntry(srcs, parts[0])
		if err != nil {
			return nil, entryError(err)
		}
		return ans, nil
	case len(parts) == 2 && parts[1] == "retry" && method == http.MethodPost:
		ans, err := retryEntry(srcs, parts[0])
		if err != nil {
			return nil, entryError(err)
		}
		return ans, nil
	case len(parts) == 0 || (len(parts) == 1 && !bulkAction(parts[0])):
		return nil, adminapi.NotAllowed(method, http.MethodGet)
	case len(parts) == 1 || (len(parts) == 2 && bulkAction(parts[1])):
		return nil, adminapi.NotAllowed(method, http.MethodPost)
	}
	return nil, adminapi.Error(http.StatusNotFound, "no such resource %s", path)
}

// bulkAction reports whether name is an action (replay, retry) rather
// than an entry id.
func bulkAction(name string) bool { return name == "replay" || name == "retry" }

// entryError is the admin API error of a show, replay or retry.
func entryError(err error) error {
	switch {
	case errors.Is(err, inbox.ErrNotFound):
		return adminapi.Error(http.StatusNotFound, "%v", err)
	case errors.Is(err, inbox.ErrNotReplayable), errors.Is(err, inbox.ErrNotPending), errors.Is(err, inbox.ErrHeldBack):
		return adminapi.Error(http.StatusConflict, "%v", err)
	case errors.Is(err, inbox.ErrUnsupported):
		return adminapi.Error(http.StatusNotImplemented, "%v", err)
	}
	return adminapi.Error(http.StatusInternalServerError, "%v", err)
}

// openInboxes returns the inboxes of the process, sorted by path; only the
// one at store if it is not empty.
func openInboxes(store string) ([]namedInbox, error) {
	if !isNATSStore(store) {
		var err error
		if store, err = adminapi.Store(store); err != nil {
			return nil, adminapi.Error(http.StatusBadRequest, "store must be an absolute path, or a nats store as listed (nats://host:port/STREAM)")
		}
	}
	var out []namedInbox
	inboxes.Range(func(_, v any) bool {
		p := v.(*pooledInbox)
		if store != "" && p.name != store {
			return true
		}
		n := namedInbox{path: p.name}
		if in := p.get(); in != nil {
			n.src, n.endpoint = in, *p.endpoint.Load()
		}
		out = append(out, n)
		return true
	})
	if store != "" && len(out) == 0 {
		return nil, adminapi.Error(http.StatusNotFound, "no screenshotcenter_webhook of this gateway uses the inbox store %s", store)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// isNATSStore reports whether store names a nats backend's inbox
// (natsInbox.name) rather than a file.
func isNATSStore(store string) bool { return strings.Contains(store, "://") }

// replayArgs reads the state (delivered, failed or gone) and the time
// range of a bulk replay: since (a duration before now) or from (an RFC
// 3339 time), and to (an RFC 3339 time); an end left out is open.
func replayArgs(stateName, since, fromText, toText string, now time.Time) (st inbox.State, from, to time.Time, err error) {
	if stateName == "" {
		return "", from, to, errors.New("say which entries to replay: state failed, delivered or gone")
	}
	if st, err = inbox.ParseState(stateName); err != nil {
		return "", from, to, err
	}
	if st == inbox.StatePending {
		return "", from, to, errors.New("pending entries are queued already: replay failed, delivered or gone ones, or retry pending ones to deliver them now")
	}
	if since != "" && fromText != "" {
		return "", from, to, errors.New("give since or from, not both")
	}
	if since != "" {
		d, err := adminapi.Since(since)
		if err != nil {
			return "", from, to, err
		}
		from = now.Add(-d)
	}
	for _, t := range []struct {
		name, text string
		into       *time.Time
	}{{"from", fromText, &from}, {"to", toText, &to}} {
		if t.text == "" {
			continue
		}
		if *t.into, err = time.Parse(time.RFC3339, t.text); err != nil {
			return "", from, to, fmt.Errorf("%s must be an RFC 3339 time such as 2026-02-22T14:30:00Z, got %q", t.name, t.text)
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return "", from, to, errors.New("the time range is empty: from (or since) must be before to")
	}
	return st, from, to, nil
}

// retryArgs checks the state of a bulk retry: pending, the only one.
func retryArgs(stateName string) error {
	if stateName != string(inbox.StatePending) {
		return fmt.Errorf("a retry delivers pending entries now: give state pending (got %q); replay failed, delivered or gone ones", stateName)
	}
	return nil
}

// listInboxes lists every inbox of srcs: counts, the oldest pending entry
// and up to limit entries in each of states.
func listInboxes(srcs []namedInbox, states []inbox.State, limit int) (inboxList, error) {
	ans := inboxList{Stores: []inboxStore{}}
	for _, n := range srcs {
		st := inboxStore{Store: n.path, Endpoint: n.endpoint, Entries: []*entryView{}}
		if n.src != nil {
			stats, err := n.src.Stats()
			if err != nil {
				return ans, fmt.Errorf("%s: %w", n.path, err)
			}
			st.Open, st.OldestPending = true, stats.OldestPending
			st.Counts = make(map[string]int, len(stats.Entries))
			for s, c := range stats.Entries {
				st.Counts[string(s)] = c
			}
			for _, s := range states {
				es, err := n.src.List(s, limit)
				if err != nil {
					return ans, fmt.Errorf("%s: %w", n.path, err)
				}
				for _, e := range es {
					st.Entries = append(st.Entries, newEntryView(e, nil))
				}
			}
		}
		ans.Stores = append(ans.Stores, st)
	}
	return ans, nil
}

// findEntry runs fn on the first inbox of srcs that holds id.
func findEntry(srcs []namedInbox, id string, fn func(inboxSource) (*inbox.Entry, []inbox.Attempt, error)) (entryAnswer, error) {
	for _, n := range srcs {
		if n.src == nil {
			continue
		}
		e, log, err := fn(n.src)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return entryAnswer{}, fmt.Errorf("%s: %w", id, err)
		}
		return entryAnswer{Store: n.path, Entry: newEntryView(e, log)}, nil
	}
	return entryAnswer{}, fmt.Errorf("%s: %w", id, inbox.ErrNotFound)
}

// showEntry returns an entry and its attempt log.
func showEntry(srcs []namedInbox, id string) (entryAnswer, error) {
	return findEntry(srcs, id, func(s inboxSource) (*inbox.Entry, []inbox.Attempt, error) {
		e, log, err := s.Get(id)
		if log == nil && err == nil {
			log = []inbox.Attempt{}
		}
		return e, log, err
	})
}

// replayEntry queues an entry again.
func replayEntry(srcs []namedInbox, id string) (entryAnswer, error) {
	return findEntry(srcs, id, func(s inboxSource) (*inbox.Entry, []inbox.Attempt, error) {
		e, err := s.Replay(id)
		return e, nil, err
	})
}

// retryEntry makes a pending entry due now.
func retryEntry(srcs []namedInbox, id string) (entryAnswer, error) {
	return findEntry(srcs, id, func(s inboxSource) (*inbox.Entry, []inbox.Attempt, error) {
		e, err := s.DeliverNow(id)
		return e, nil, err
	})
}

// retryInboxes makes every pending entry of srcs waiting for a retry due
// now.
func retryInboxes(srcs []namedInbox) (retriedAnswer, error) {
	ans := retriedAnswer{Stores: []storeRetried{}}
	for _, n := range srcs {
		if n.src == nil {
			continue
		}
		es, err := n.src.DeliverAllNow()
		if err != nil {
			return ans, fmt.Errorf("%s: %w", n.path, err)
		}
		sr := storeRetried{Store: n.path, Retried: []string{}}
		for _, e := range es {
			sr.Retried = append(sr.Retried, e.ID)
		}
		ans.Stores = append(ans.Stores, sr)
	}
	return ans, nil
}

// replayInboxes queues again every entry of srcs in state that became so
// in [from, to).
func replayInboxes(srcs []namedInbox, state inbox.State, from, to time.Time) (replayedAnswer, error) {
	ans := replayedAnswer{Stores: []storeReplayed{}}
	for _, n := range srcs {
		if n.src == nil {
			continue
		}
		es, err := n.src.ReplayAll(state, from, to)
		if err != nil {
			return ans, fmt.Errorf("%s: %w", n.path, err)
		}
		sr := storeReplayed{Store: n.path, Replayed: []string{}}
		for _, e := range es {
			sr.Replayed = append(sr.Replayed, e.ID)
		}
		ans.Stores = append(ans.Stores, sr)
	}
	return ans, nil
}

// Interface guards
var (
	_ caddy.AdminRouter = (*inboxAdmin)(nil)
	_ inboxSource       = (inbox.Engine)(nil)
	_ inboxSource       = (*inbox.File)(nil)
)
