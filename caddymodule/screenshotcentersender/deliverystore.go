package screenshotcentersender

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scgate/scgate/caddymodule/internal/adminapi"
	"github.com/scgate/scgate/sender"
)

// deliveryStore is an outbox read directly or through a running gateway's
// admin API.
type deliveryStore interface {
	// list returns the deliveries in states, up to limit per state, by
	// store.
	list(states []sender.State, limit int) ([]storeList, error)
	show(id string) (*deliveryAnswer, error)
	retry(id string) (*retryAnswer, error)
	// retryAll re-queues the deliveries in state (failed or gone) that
	// became final within since (all for 0), by store.
	retryAll(state sender.State, since time.Duration) ([]storeRetried, error)
}

// fileStore is an outbox file opened by this process.
type fileStore struct{ ob *sender.Outbox }

func (f fileStore) list(states []sender.State, limit int) ([]storeList, error) {
	sl := storeList{Store: f.ob.Path(), Open: true}
	for _, st := range states {
		ds, err := f.ob.List(st, limit)
		if err != nil {
			return nil, err
		}
		sl.Deliveries = append(sl.Deliveries, ds...)
	}
	return []storeList{sl}, nil
}

func (f fileStore) show(id string) (*deliveryAnswer, error) {
	d, log, err := f.ob.Get(id)
	if err != nil {
		return nil, err
	}
	return &deliveryAnswer{Store: f.ob.Path(), Delivery: newView(d, log)}, nil
}

func (f fileStore) retry(id string) (*retryAnswer, error) {
	d, err := f.ob.Retry(id, time.Now())
	if err != nil {
		return nil, err
	}
	return &retryAnswer{Store: f.ob.Path(), Delivery: d}, nil
}

func (f fileStore) retryAll(state sender.State, since time.Duration) ([]storeRetried, error) {
	now := time.Now()
	var from time.Time
	if since > 0 {
		from = now.Add(-since)
	}
	ds, err := f.ob.RetryAll(state, from, now)
	if err != nil {
		return nil, err
	}
	sr := storeRetried{Store: f.ob.Path(), Open: true, Retried: []string{}}
	for _, d := range ds {
		sr.Retried = append(sr.Retried, d.ID)
	}
	return []storeRetried{sr}, nil
}

// adminStore is the admin API of a running gateway; store, if set, selects
// one of its outboxes.
type adminStore struct{ addr, store string }

func (a adminStore) call(method, path string, q url.Values, out any) error {
	if a.store != "" {
		q.Set("store", a.store)
	}
	uri := adminBase + path
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	return adminapi.Call(a.addr, method, uri, out)
}

func (a adminStore) list(states []sender.State, limit int) ([]storeList, error) {
	var out []storeList
	for _, st := range states {
		var ans listAnswer
		if err := a.call(http.MethodGet, "", url.Values{"state": {string(st)}, "limit": {strconv.Itoa(limit)}}, &ans); err != nil {
			return nil, err
		}
		if out == nil {
			out = ans.Stores
			continue
		}
		for i := range out {
			if i < len(ans.Stores) && ans.Stores[i].Store == out[i].Store {
				out[i].Deliveries = append(out[i].Deliveries, ans.Stores[i].Deliveries...)
			}
		}
	}
	return out, nil
}

func (a adminStore) show(id string) (*deliveryAnswer, error) {
	var ans deliveryAnswer
	if err := a.call(http.MethodGet, "/"+url.PathEscape(id), url.Values{}, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

func (a adminStore) retry(id string) (*retryAnswer, error) {
	var ans retryAnswer
	if err := a.call(http.MethodPost, "/"+url.PathEscape(id)+"/retry", url.Values{}, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

func (a adminStore) retryAll(state sender.State, since time.Duration) ([]storeRetried, error) {
	q := url.Values{"state": {string(state)}}
	if since > 0 {
		q.Set("since", since.String())
	}
	var ans bulkRetryAnswer
	if err := a.call(http.MethodPost, "/retry", q, &ans); err != nil {
		return nil, err
	}
	return ans.Stores, nil
}

// openDeliveryStore opens the outbox file (read-only unless write), or,
// when a running gateway holds it (or the default store does not exist),
// that gateway's admin API.
func openDeliveryStore(path string, explicit, write bool, addr string) (deliveryStore, func(), error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("outbox %s: %w", abs, err)
		}
		// No default store here: ask the gateway about all of its stores.
		return adminStore{addr: addr}, func() {}, nil
	}
	ob, err := sender.OpenOutbox(abs, sender.OutboxOptions{LockTimeout: 100 * time.Millisecond, ReadOnly: !write})
	if errors.Is(err, sender.ErrStoreLocked) {
		return adminStore{addr: addr, store: abs}, func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return fileStore{ob}, func() { ob.Close() }, nil
}
