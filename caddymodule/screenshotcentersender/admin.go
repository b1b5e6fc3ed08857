package screenshotcentersender

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"

	"github.com/scgate/scgate/sender"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminBase is the path of the deliveries admin API.
const adminBase = "/scgate/deliveries"

// defaultAdminLimit is how many deliveries per state a list returns when
// the request does not say.
const defaultAdminLimit = 100

// adminAPI serves the deliveries of the outboxes that the running
// screenshotcenter_sender handlers have open, on Caddy's admin endpoint, so
// that they can be inspected and retried while the gateway holds the
// stores' locks:
//
//	GET  /scgate/deliveries[?store=<abs path>][&state=<state>][&limit=<n>]
//	GET  /scgate/deliveries/<id>[?store=<abs path>]
//	POST /scgate/deliveries/<id>/retry[?store=<abs path>]
//	POST /scgate/deliveries/retry?state=failed|gone[&since=<duration>][&store=<abs path>]
//
// A list returns every open store (or the one named), with its counts and
// up to limit deliveries per state (default 100, 0 for all). The bulk
// retry re-queues every delivery in the state that became final within
// since (all of them without since), in every open store or the one named,
// and lists their ids. Nothing it returns holds a secret or a body. It is exactly as protected as Caddy's
// admin endpoint: anyone who can reach that can read delivery metadata and
// retry deliveries (as they can already replace the whole config).
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.scgate_deliveries",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (a *adminAPI) Routes() []caddy.AdminRoute {
	h := adminapi.Handler(a.serve)
	return []caddy.AdminRoute{{Pattern: adminBase, Handler: h}, {Pattern: adminBase + "/", Handler: h}}
}

// storeList is one store in a list answer.
type storeList struct {
	Store      string             `json:"store"`
	Open       bool               `json:"open"`
	Counts     map[string]int     `json:"counts,omitempty"`
	Deliveries []*sender.Delivery `json:"deliveries"`
}

type listAnswer struct {
	Stores []storeList `json:"stores"`
}

// deliveryView is a delivery as shown: metadata, body size and attempt
// log; never the secret or the body.
type deliveryView struct {
	*sender.Delivery
	BodyBytes int              `json:"body_bytes"`
	Log       []sender.Attempt `json:"attempts_log"`
}

type deliveryAnswer struct {
	Store    string        `json:"store"`
	Delivery *deliveryView `json:"delivery"`
}

type retryAnswer struct {
	Store    string           `json:"store"`
	Delivery *sender.Delivery `json:"delivery"`
}

// bulkRetryAnswer lists, by store, the ids a bulk retry re-queued.
type bulkRetryAnswer struct {
	Stores []storeRetried `json:"stores"`
}

type storeRetried struct {
	Store   string   `json:"store"`
	Open    bool     `json:"open"`
	Retried []string `json:"retried"`
}

func (a *adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	parts := adminapi.Parts(r.URL.Path, adminBase)
	stores, err := poolStores(r.URL.Query().Get("store"))
	if err != nil {
		return err
	}
	switch {
	case len(parts) == 0:
		if r.Method != http.MethodGet {
			return adminapi.NotAllowed(r.Method, http.MethodGet)
		}
		return a.list(w, r, stores)
	case len(parts) == 1 && parts[0] == "retry" && r.Method == http.MethodPost:
		return a.retryAll(w, r, stores)
	case len(parts) == 1:
		if r.Method != http.MethodGet {
			return adminapi.NotAllowed(r.Method, http.MethodGet)
		}
		return a.show(w, parts[0], stores)
	case len(parts) == 2 && parts[1] == "retry":
		if r.Method != http.MethodPost {
			return adminapi.NotAllowed(r.Method, http.MethodPost)
		}
		return a.retry(w, parts[0], stores)
	}
	return adminapi.Error(http.StatusNotFound, "no such resource %s", r.URL.Path)
}

// poolStores returns the pooled senders, sorted by path; only the one at
// store if it is not empty.
func poolStores(store string) ([]*pooledSender, error) {
	store, err := adminapi.Store(store)
	if err != nil {
		return nil, err
	}
	var out []*pooledSender
	senders.Range(func(_, v any) bool {
		if p, ok := v.(*pooledSender); ok && (store == "" || p.Path() == store) {
			out = append(out, p)
		}
		return true
	})
	if store != "" && len(out) == 0 {
		return nil, adminapi.Error(http.StatusNotFound, "no screenshotcenter_sender of this gateway uses store %s", store)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out, nil
}

func (a *adminAPI) list(w http.ResponseWriter, r *http.Request, stores []*pooledSender) error {
	q := r.URL.Query()
	states, limit, err := adminapi.ListArgs(q.Get("state"), q.Get("limit"), defaultAdminLimit)
	if err != nil {
		return adminapi.Error(http.StatusBadRequest, "%v", err)
	}
	ans := listAnswer{Stores: []storeList{}}
	for _, p := range stores {
		sl := storeList{Store: p.Path(), Deliveries: []*sender.Delivery{}}
		if s := p.Sender(); s != nil {
			sl.Open = true
			counts, err := s.Outbox().Count()
			if err != nil {
				return adminapi.Error(http.StatusInternalServerError, "%s: %v", p.Path(), err)
			}
			sl.Counts = make(map[string]int, len(counts))
			for st, n := range counts {
				sl.Counts[string(st)] = n
			}
			for _, st := range states {
				ds, err := s.List(st, limit)
				if err != nil {
					return adminapi.Error(http.StatusInternalServerError, "%s: %v", p.Path(), err)
				}
				sl.Deliveries = append(sl.Deliveries, ds...)
			}
		}
		ans.Stores = append(ans.Stores, sl)
	}
	return adminapi.WriteJSON(w, ans)
}

// find returns the store holding the delivery id and the open sender of
// that store.
func find(id string, stores []*pooledSender, fn func(*sender.Sender) error) (string, error) {
	closed := 0
	for _, p := range stores {
		s := p.Sender()
		if s == nil {
			closed++
			continue
		}
		err := fn(s)
		if errors.Is(err, sender.ErrNotFound) {
			continue
		}
		if errors.Is(err, sender.ErrNotRetryable) {
			return p.Path(), adminapi.Error(http.StatusConflict, "%v", err)
		}
		if err != nil {
			return p.Path(), adminapi.Error(http.StatusInternalServerError, "%s: %v", p.Path(), err)
		}
		return p.Path(), nil
	}
	if closed > 0 {
		return "", adminapi.Error(http.StatusServiceUnavailable, "delivery %s not found; %d store(s) not open yet (locked by another process)", id, closed)
	}
	return "", adminapi.Error(http.StatusNotFound, "delivery %s not found", id)
}

func (a *adminAPI) show(w http.ResponseWriter, id string, stores []*pooledSender) error {
	var view *deliveryView
	store, err := find(id, stores, func(s *sender.Sender) error {
		d, log, err := s.Get(id)
		if err != nil {
			return err
		}
		view = newView(d, log)
		return nil
	})
	if err != nil {
		return err
	}
	return adminapi.WriteJSON(w, deliveryAnswer{Store: store, Delivery: view})
}

func (a *adminAPI) retry(w http.ResponseWriter, id string, stores []*pooledSender) error {
	var d *sender.Delivery
	store, err := find(id, stores, func(s *sender.Sender) error {
		var err error
		d, err = s.Retry(id)
		return err
	})
	if err != nil {
		return err
	}
	return adminapi.WriteJSON(w, retryAnswer{Store: store, Delivery: newView(d, nil).Delivery})
}

func (a *adminAPI) retryAll(w http.ResponseWriter, r *http.Request, stores []*pooledSender) error {
	state, since, err := bulkRetryArgs(r.URL.Query().Get("state"), r.URL.Query().Get("since"))
	if err != nil {
		return adminapi.Error(http.StatusBadRequest, "%v", err)
	}
	ans := bulkRetryAnswer{Stores: []storeRetried{}}
	for _, p := range stores {
		sr := storeRetried{Store: p.Path(), Retried: []string{}}
		if s := p.Sender(); s != nil {
			sr.Open = true
			var from time.Time
			if since > 0 {
				from = time.Now().Add(-since)
			}
			ds, err := s.RetryAll(state, from)
			if err != nil {
				return adminapi.Error(http.StatusInternalServerError, "%s: %v", p.Path(), err)
			}
			for _, d := range ds {
				sr.Retried = append(sr.Retried, d.ID)
			}
		}
		ans.Stores = append(ans.Stores, sr)
	}
	return adminapi.WriteJSON(w, ans)
}

// bulkRetryArgs reads the state (failed or gone) and the since window (0:
// no bound) of a bulk retry.
func bulkRetryArgs(stateName, sinceText string) (sender.State, time.Duration, error) {
	state, err := sender.ParseState(stateName)
	if err != nil {
		return "", 0, err
	}
	if state != sender.StateFailed && state != sender.StateGone {
		return "", 0, fmt.Errorf("only failed or gone deliveries can be retried, not %s", state)
	}
	since, err := adminapi.Since(sinceText)
	return state, since, err
}

// newView drops the secret and the body from d.
func newView(d *sender.Delivery, log []sender.Attempt) *deliveryView {
	c := *d
	n := len(c.Body)
	c.Body, c.Secret = nil, nil
	if log == nil {
		log = []sender.Attempt{}
	}
	return &deliveryView{Delivery: &c, BodyBytes: n, Log: log}
}

// Interface guard
var _ caddy.AdminRouter = (*adminAPI)(nil)
