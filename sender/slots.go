package sender

import (
	"sync"
	"sync/atomic"
)

// slots counts the attempts in flight, in all and per endpoint, against
// the Workers and PerEndpoint limits. The dispatch loop takes a slot for
// each delivery it leases; the attempt's goroutine releases it, which wakes
// the loop through freed.
type slots struct {
	limits *limits
	// freed gets a value (without blocking; one is enough) whenever a
	// slot is released.
	freed chan struct{}

	mu         sync.Mutex
	active     int
	byEndpoint map[string]int
}

// limits are the bounds of the attempts in flight, read at each dispatch:
// a change applies to the attempts started after it (a lower bound lets
// those in flight finish).
type limits struct {
	workers, perEndpoint atomic.Int64
}

func (l *limits) set(workers, perEndpoint int) {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if perEndpoint <= 0 {
		perEndpoint = DefaultPerEndpoint
	}
	l.workers.Store(int64(workers))
	l.perEndpoint.Store(int64(perEndpoint))
}

func newSlots(l *limits) *slots {
	return &slots{limits: l, freed: make(chan struct{}, 1), byEndpoint: make(map[string]int)}
}

// room returns how many more attempts may start.
func (sl *slots) room() int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return int(sl.limits.workers.Load()) - sl.active
}

// roomFor returns how many more attempts may start against endpoint (an
// endpointKey).
func (sl *slots) roomFor(endpoint string) int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return int(sl.limits.perEndpoint.Load()) - sl.byEndpoint[endpoint]
}

// take counts an attempt against endpoint as started.
func (sl *slots) take(endpoint string) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.active++
	sl.byEndpoint[endpoint]++
}

// release counts an attempt against endpoint as ended.
func (sl *slots) release(endpoint string) {
	sl.mu.Lock()
	sl.active--
	if sl.byEndpoint[endpoint]--; sl.byEndpoint[endpoint] <= 0 {
		delete(sl.byEndpoint, endpoint)
	}
	sl.mu.Unlock()
	select {
	case sl.freed <- struct{}{}:
	default:
	}
}
