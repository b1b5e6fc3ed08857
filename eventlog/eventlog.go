// Package eventlog is the gateway's memory of what it answered: a bounded
// ring of one entry per answered request, safe for concurrent use, cheap to
// write on the request path (one mutex and a copy into a slot allocated
// once), queryable by outcome, reason, event, id and time, and followable:
// a follower gets new entries through a bounded buffer, and one that falls
// behind misses entries (and is told how many) instead of slowing the
// requests down.
//
// An entry holds metadata only: never a body, a signature or a secret.
// Plain Go, no Caddy import.
package eventlog

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultSize is how many entries a log holds unless configured otherwise.
const DefaultSize = 10000

// MaxField bounds each text field of an entry, in bytes: a longer one
// (an id or dedupe key from a signed but huge body, say) is cut at a UTF-8
// boundary and ends with "…", so that the log's memory stays bounded by its
// size whatever the bodies hold.
const MaxField = 256

// DefaultFollowBuffer is how many entries a follower may fall behind by
// before it misses some.
const DefaultFollowBuffer = 256

// Entry is one answered request.
type Entry struct {
	// Seq numbers the entries of a log from 1, in the order they were
	// recorded; a follower that reconnects asks for those after the last
	// one it saw.
	Seq uint64 `json:"seq"`
	// Time is when the request was answered.
	Time time.Time `json:"time"`
	// Endpoint is the handler's name (the endpoint label of its metrics).
	Endpoint string `json:"endpoint"`
	// Scheme is the signature scheme the request was checked against.
	Scheme string `json:"scheme"`
	// Outcome is what the gateway did (forwarded, duplicate, rejected, ...).
	Outcome string `json:"outcome"`
	// Reason is the reason code of a refusal; empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Mode is "report" when the request was passed on whatever the
	// outcome says (then Status is what the upstream answered, or 0 when
	// the gateway did not see it); empty in enforce mode.
	Mode string `json:"mode,omitempty"`
	// Event is the signed event type, ID the event's id as its scheme
	// names it (ScreenshotCenter: the screenshot_id, else the batch_id;
	// Stripe: the event id), and ScreenshotID and BatchID are
	// ScreenshotCenter's fields; all empty when the request did not pass
	// the signature and body checks.
	Event        string `json:"event,omitempty"`
	ID           string `json:"id,omitempty"`
	ScreenshotID string `json:"screenshot_id,omitempty"`
	BatchID      string `json:"batch_id,omitempty"`
	// DedupeKey is the event's dedupe key in display form; empty when the
	// request was refused before its key was made or dedupe is off.
	DedupeKey string `json:"dedupe_key,omitempty"`
	// Status is the HTTP status the client got; 0 when it is not known
	// (passed on in report mode).
	Status int `json:"status"`
	// UpstreamStatus is the status the upstream answered; 0 when it was
	// not called or did not answer.
	UpstreamStatus int `json:"upstream_status,omitempty"`
	// UpstreamLatency is how long the upstream call took, in nanoseconds;
	// 0 when it was not called.
	UpstreamLatency time.Duration `json:"upstream_latency,omitempty"`
	// RemoteAddr is the address of the connection's peer as the server
	// saw it: behind a load balancer, the balancer's.
	RemoteAddr string `json:"remote_addr,omitempty"`
	// ClientIP is the client's IP as Caddy determined it (its client_ip:
	// the first untrusted address of X-Forwarded-For when the peer is one
	// of the server's trusted_proxies, else the peer's IP); empty when
	// Caddy set none.
	ClientIP string `json:"client_ip,omitempty"`
	// DeliveryID links the entry to a delivery (of an inbox) when there
	// is one.
	DeliveryID string `json:"delivery_id,omitempty"`
}

// Log is a bounded ring of entries. The zero value holds nothing until
// SetSize gives it room.
type Log struct {
	mu   sync.Mutex
	ring []Entry // entry seq is at (seq-1) % len(ring)
	last uint64  // seq of the newest entry; 0 before the first
	held int     // entries held: the newest, up to len(ring)
	subs []*Subscription
	now  func() time.Time
}

// New returns a log that holds the newest size entries.
func New(size int) *Log {
	l := new(Log)
	l.SetSize(size)
	return l
}

// SetClock makes the log stamp entries recorded without a time with now
// instead of time.Now (for tests).
func (l *Log) SetClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}

// SetSize makes the log hold the newest size entries, keeping the newest of
// those it holds. A size of 0 or less empties it and stops it recording.
func (l *Log) SetSize(size int) {
	size = max(size, 0)
	l.mu.Lock()
	defer l.mu.Unlock()
	if size == len(l.ring) {
		return
	}
	ring := make([]Entry, size)
	keep := min(l.held, size)
	for seq := l.last - uint64(keep) + 1; seq <= l.last && keep > 0; seq++ {
		ring[(seq-1)%uint64(size)] = *l.at(seq)
	}
	l.ring, l.held = ring, keep
}

// Size returns how many entries the log holds at most.
func (l *Log) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ring)
}

// Recorded returns how many entries were recorded in all, the ones the
// ring no longer holds included.
func (l *Log) Recorded() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// oldest returns the seq of the oldest entry held (last+1 when none is).
func (l *Log) oldest() uint64 { return l.last - uint64(l.held) + 1 }

func (l *Log) at(seq uint64) *Entry { return &l.ring[(seq-1)%uint64(len(l.ring))] }

// Record adds e (its Seq assigned, its Time set to now if zero, its text
// fields cut to MaxField), overwriting the oldest entry when the log is
// full, and offers it to every follower whose query it matches. It never
// waits for a follower.
func (l *Log) Record(e Entry) {
	clip(&e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) == 0 {
		return
	}
	if e.Time.IsZero() {
		if l.now != nil {
			e.Time = l.now()
		} else {
			e.Time = time.Now()
		}
	}
	l.last++
	l.held = min(l.held+1, len(l.ring))
	e.Seq = l.last
	*l.at(e.Seq) = e
	for _, s := range l.subs {
		s.offer(&e)
	}
}

// Query selects entries: each set field must match (all of them). The zero
// Query matches every entry.
type Query struct {
	// Outcome, Reason, Event and Endpoint match the entry's field exactly.
	Outcome, Reason, Event, Endpoint string
	// ID matches an entry whose id, screenshot_id, batch_id or
	// delivery_id is exactly ID.
	ID string
	// Since matches entries recorded at or after it.
	Since time.Time
	// After matches entries with a larger Seq.
	After uint64
	// Limit bounds how many entries Find returns (the newest) and how many
	// Follow returns before the new ones; 0 is no bound.
	Limit int
}

// Match reports whether e is selected by q (Limit aside).
func (q *Query) Match(e *Entry) bool {
	return (q.Outcome == "" || e.Outcome == q.Outcome) &&
		(q.Reason == "" || e.Reason == q.Reason) &&
		(q.Event == "" || e.Event == q.Event) &&
		(q.Endpoint == "" || e.Endpoint == q.Endpoint) &&
		(q.ID == "" || e.ID == q.ID || e.ScreenshotID == q.ID || e.BatchID == q.ID || e.DeliveryID == q.ID) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) &&
		e.Seq > q.After
}

// Find returns the entries q selects, newest first, at most q.Limit.
func (l *Log) Find(q Query) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.find(q)
}

func (l *Log) find(q Query) []Entry {
	out := []Entry{}
	for seq, oldest := l.last, max(l.oldest(), q.After+1); seq >= oldest && seq > 0; seq-- {
		if e := l.at(seq); q.Match(e) {
			out = append(out, *e)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out
}

// Item is what a follower receives: an entry, and how many entries that
// matched its query it missed just before this one because it had fallen
// more than its buffer behind.
type Item struct {
	Entry  Entry
	Missed uint64
}

// Subscription is a follower of a log. Read its entries from C until Close.
type Subscription struct {
	log    *Log
	q      Query
	c      chan Item
	missed uint64 // guarded by log.mu
	closed bool   // guarded by log.mu
}

// Follow returns the entries q selects (the newest q.Limit of them, oldest
// first) and a subscription to the matching entries recorded after them,
// with nothing lost or repeated in between. A subscriber that falls more
// than buffer entries behind (DefaultFollowBuffer if 0 or less) misses the
// entries that would not fit, and the next Item it gets says how many.
func (l *Log) Follow(q Query, buffer int) ([]Entry, *Subscription) {
	if buffer <= 0 {
		buffer = DefaultFollowBuffer
	}
	s := &Subscription{log: l, q: q, c: make(chan Item, buffer)}
	s.q.Limit = 0
	l.mu.Lock()
	defer l.mu.Unlock()
	backlog := l.find(q)
	for i, j := 0, len(backlog)-1; i < j; i, j = i+1, j-1 {
		backlog[i], backlog[j] = backlog[j], backlog[i]
	}
	l.subs = append(l.subs, s)
	return backlog, s
}

// offer hands e to the follower if it matches, or counts it as missed when
// the buffer is full. The log's lock is held.
func (s *Subscription) offer(e *Entry) {
	if !s.q.Match(e) {
		return
	}
	select {
	case s.c <- Item{Entry: *e, Missed: s.missed}:
		s.missed = 0
	default:
		s.missed++
	}
}

// C delivers the followed entries; it is closed by Close.
func (s *Subscription) C() <-chan Item { return s.c }

// Close ends the subscription and closes C. It is safe to call more than
// once.
func (s *Subscription) Close() {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for i, x := range l.subs {
		if x == s {
			l.subs = append(l.subs[:i], l.subs[i+1:]...)
			break
		}
	}
	close(s.c)
}

// clip cuts e's text fields to MaxField bytes.
func clip(e *Entry) {
	for _, p := range [...]*string{&e.Endpoint, &e.Scheme, &e.Outcome, &e.Reason, &e.Mode, &e.Event, &e.ID,
		&e.ScreenshotID, &e.BatchID, &e.DedupeKey, &e.RemoteAddr, &e.ClientIP, &e.DeliveryID} {
		if len(*p) > MaxField {
			*p = cut(*p)
		}
	}
}

// cut returns the start of s that fits MaxField with "…", in a new string
// (so that the long one is not kept alive).
func cut(s string) string {
	n := MaxField - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	var b strings.Builder
	b.Grow(n + len("…"))
	b.WriteString(s[:n])
	b.WriteString("…")
	return b.String()
}
