package sender

import "sync"

// slots counts the attempts in flight, in all and per endpoint, against
// the Workers and PerEndpoint limits. The dispatch loop takes a slot for
// each delivery it leases; the attempt's goroutine releases it, which wakes
// the loop through freed.
type slots struct {
	workers, perEndpoint int
	// freed gets a value (without blocking; one is enough) whenever a
	// slot is released.
	freed chan struct{}

	mu         sync.Mutex
	active     int
	byEndpoint map[string]int
}

func newSlots(workers, perEndpoint int) *slots {
	return &slots{workers: workers, perEndpoint: perEndpoint, freed: make(chan struct{}, 1),
		byEndpoint: make(map[string]int)}
}

// room returns how many more attempts may start.
func (sl *slots) room() int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.workers - sl.active
}

// roomFor returns how many more attempts may start against endpoint (an
// endpointKey).
func (sl *slots) roomFor(endpoint string) int {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.perEndpoint - sl.byEndpoint[endpoint]
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
