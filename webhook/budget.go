package webhook

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrBufferFull is returned by ReadBody when the Budget cannot hold the
// body's next bytes.
var ErrBufferFull = errors.New("the budget of buffered body bytes is used up")

// ErrClientShareFull is returned by ReadBody when the body's client already
// holds its whole share of the Budget.
var ErrClientShareFull = errors.New("the client holds its whole share of the body budget")

// Budget bounds the bytes that bodies being read hold at once, across every
// request that reads with it, so that memory stays bounded whatever clients
// send (many slow bodies, many streams), and bounds what one client holds
// of it, so that one client cannot use it up for the others. A body holds
// budget only for bytes that arrived (see ReadBody), from its first byte
// until it is released. The zero value has no limit.
type Budget struct {
	used atomic.Int64 // also under mu; atomic for Used

	mu      sync.Mutex
	limit   int64            // 0: no limit
	share   int64            // what one client may hold; 0: no limit
	clients map[string]int64 // what each client holding bytes holds
}

// SetLimits sets the bound of the whole budget and of one client's share,
// in bytes (0: none). Bodies already read keep what they hold.
func (b *Budget) SetLimits(total, perClient int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.limit, b.share = total, perClient
}

// Used returns the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Hold returns an empty hold of the budget for one body of client (any
// string naming the client, such as its address; bodies of one client
// share its share). A nil Budget gives a hold without a limit.
func (b *Budget) Hold(client string) Hold { return Hold{budget: b, client: client} }

// take reserves n more bytes for client if they fit both bounds.
func (b *Budget) take(client string, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	used := b.used.Load()
	if b.limit > 0 && used+n > b.limit {
		return ErrBufferFull
	}
	held := b.clients[client]
	if b.share > 0 && held+n > b.share {
		return ErrClientShareFull
	}
	if b.clients == nil {
		b.clients = make(map[string]int64)
	}
	b.clients[client] = held + n
	b.used.Store(used + n)
	return nil
}

// give returns n bytes client held.
func (b *Budget) give(client string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if held := b.clients[client] - n; held > 0 {
		b.clients[client] = held
	} else {
		delete(b.clients, client)
	}
	b.used.Add(-n)
}

// Hold is the part of a Budget that one body holds, charged to its client.
// The zero value, and a hold of a nil Budget, have no limit.
type Hold struct {
	budget *Budget
	client string
	held   int64
}

// Held returns the bytes the hold has.
func (h *Hold) Held() int64 { return h.held }

// take adds n bytes to the hold if the budget has room for them.
func (h *Hold) take(n int64) error {
	if h == nil || h.budget == nil || n <= 0 {
		return nil
	}
	if err := h.budget.take(h.client, n); err != nil {
		return err
	}
	h.held += n
	return nil
}

// Release gives back everything the hold has; the hold is empty after it.
func (h *Hold) Release() {
	if h == nil || h.budget == nil || h.held == 0 {
		return
	}
	h.budget.give(h.client, h.held)
	h.held = 0
}
