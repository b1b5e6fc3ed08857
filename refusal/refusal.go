// Package refusal is the one reason-coded refusal type of the gateway: a
// request the gateway does not deliver, with the status it answers and a
// stable reason code for the answer's body, the logs and the metrics'
// reason label. Every refusal is made once, with New, at package
// initialisation: All lists them, the one table of statuses and reasons.
package refusal

import (
	"errors"
	"slices"
	"sync"
)

// Refusal is a request the gateway refuses. Values are compared by
// pointer: each refusal is one variable.
type Refusal struct {
	// Status is the HTTP status answered.
	Status int
	// Reason is the stable reason code (snake_case).
	Reason string
	// Err says what is wrong, for the log; never shown to clients.
	Err error
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Err.Error() }

var (
	mu  sync.Mutex
	all []*Refusal
)

// New makes a refusal and adds it to the table. Call it from a package
// variable's initialiser, once per refusal.
func New(status int, reason, msg string) *Refusal {
	r := &Refusal{Status: status, Reason: reason, Err: errors.New(msg)}
	mu.Lock()
	all = append(all, r)
	mu.Unlock()
	return r
}

// All returns every refusal made with New, ordered by reason.
func All() []*Refusal {
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(all)
	slices.SortStableFunc(out, func(a, b *Refusal) int {
		switch {
		case a.Reason < b.Reason:
			return -1
		case a.Reason > b.Reason:
			return 1
		}
		return 0
	})
	return out
}
