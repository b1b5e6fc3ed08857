package gateway

import (
	"errors"
	"sync"
)

// errTooManyStreams is readBody's error for a stream over the bound.
var errTooManyStreams = errors.New("too many bodies of this connection are being read")

// Streams bounds the bodies of one multiplexed connection (HTTP/2, HTTP/3)
// read at once. HTTP/2 lets one connection open hundreds of streams that
// each declare a body and send nothing; past the bound a stream is answered
// at once instead of waiting for its body, so one connection cannot occupy
// the gateway with streams. The zero value has no bound.
type Streams struct {
	mu    sync.Mutex
	limit int            // 0: none
	open  map[string]int // bodies being read, by connection
}

// SetLimit sets the bound (0: none). Bodies being read are not affected.
func (s *Streams) SetLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = n
}

// enter counts one more body of conn being read, if the bound allows it.
func (s *Streams) enter(conn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.open[conn]
	if s.limit > 0 && n >= s.limit {
		return false
	}
	if s.open == nil {
		s.open = make(map[string]int)
	}
	s.open[conn] = n + 1
	return true
}

// leave counts a body of conn read.
func (s *Streams) leave(conn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.open[conn] - 1; n > 0 {
		s.open[conn] = n
	} else {
		delete(s.open, conn)
	}
}
