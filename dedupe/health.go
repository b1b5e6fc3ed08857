package dedupe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/internal/recovery"
)

// breakerThreshold is how many operations in a row must fail before the
// breaker opens: one lost connection or slow answer does not turn every
// request away, a server that stopped answering does within three calls.
const breakerThreshold = 3

// health is a RedisStore's circuit breaker, its background probe and its
// queue of commits waiting for Redis.
//
// Closed, calls go to Redis; breakerThreshold failures in a row open it.
// Open, calls fail at once with the last error, and a probe pings Redis
// every interval; its first answer closes the breaker. Queued commits are
// retried whenever the breaker is closed, on the same interval.
type health struct {
	s          *RedisStore
	interval   time.Duration
	maxPending int
	maxAge     time.Duration

	open    atomic.Bool
	fails   atomic.Int32
	downErr atomic.Pointer[error] // what calls get while open
	// ready is set, and firstTry closed, when the first connection attempt
	// ended: calls made before wait for it instead of failing.
	ready    atomic.Bool
	firstTry chan struct{}

	mu       sync.Mutex
	openedAt time.Time
	pending  []pendingCommit
	retrying int // commits taken from pending by a retry still on the wire

	wake chan struct{}
	quit chan struct{}
	done chan struct{} // closed when the loop has ended, or by stop if it never ran
	// startOnce runs the loop, or (from stop) marks a store that never
	// started; started says which, once it has run.
	startOnce sync.Once
	started   bool
	stopOnce  sync.Once
}

// pendingCommit is a commit that could not reach Redis.
type pendingCommit struct {
	d       [16]byte // the key's digest: the Redis key is made at each retry, by the store that retries it
	tok     Token
	expires time.Time // when the key's TTL, counted from the upstream's answer, ends
	queued  time.Time
}

func newHealth(s *RedisStore, o RedisOptions) *health {
	h := &health{
		s:          s,
		interval:   o.ProbeInterval,
		maxPending: o.PendingCommits,
		maxAge:     o.PendingCommitAge,
		firstTry:   make(chan struct{}),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	return h
}

// start runs the loop, once; not after stop.
func (h *health) start() {
	h.startOnce.Do(func() {
		h.started = true
		go h.loop()
	})
}

// admit lets a call through, or fails it at once while Redis is known down.
func (h *health) admit(ctx context.Context) error {
	if !h.ready.Load() {
		t := time.NewTimer(h.s.timeout)
		defer t.Stop()
		select {
		case <-h.firstTry:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("%w: still connecting to redis", ErrUnavailable)
		}
	}
	if h.open.Load() {
		return *h.downErr.Load()
	}
	return nil
}

// failed counts a failed call (not one its caller cancelled) and returns
// the error the caller gets.
func (h *health) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if h.fails.Add(1) >= breakerThreshold {
		h.trip(err)
	}
	return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
}

// succeeded resets the failure count (without a write when it is zero).
func (h *health) succeeded() {
	if h.fails.Load() != 0 {
		h.fails.Store(0)
	}
}

// trip opens the breaker, if it is not open already.
func (h *health) trip(cause error) {
	down := fmt.Errorf("%w: redis is not answering, failing fast until it does: %w", ErrUnavailable, cause)
	h.downErr.Store(&down)
	if !h.open.CompareAndSwap(false, true) {
		return
	}
	h.mu.Lock()
	h.openedAt = time.Now()
	h.mu.Unlock()
	h.s.log.Warn("dedupe redis unavailable; failing calls at once until a probe answers",
		zap.String("reason", "dedupe_store_down"), zap.Duration("probe_interval", h.interval), zap.Error(cause))
	h.poke()
}

func (h *health) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// loop makes the first connection attempt, then probes while the breaker
// is open and retries queued commits while it is closed. It sleeps while
// there is nothing to do.
func (h *health) loop() {
	defer close(h.done)
	var err error
	if recovery.Do(h.s.log, "dedupe.redis_health", func() { err = h.probe() }) {
		err = errors.New("the first probe panicked")
	}
	if err != nil {
		h.fails.Store(breakerThreshold)
		h.trip(err)
	}
	h.ready.Store(true)
	close(h.firstTry)
	t := time.NewTimer(h.interval)
	defer t.Stop()
	for {
		if !h.open.Load() && h.pendingLen() == 0 {
			select {
			case <-h.wake:
			case <-h.quit:
				return
			}
		}
		t.Reset(h.interval)
		select {
		case <-t.C:
		case <-h.quit:
			return
		}
		recovery.Do(h.s.log, "dedupe.redis_health", h.round)
	}
}

// round probes Redis while the breaker is open, and retries the queued
// commits once it is closed.
func (h *health) round() {
	if h.open.Load() {
		if h.probe() != nil {
			return
		}
		h.close()
	}
	h.retryPending()
}

// probe pings Redis within the store's timeout.
func (h *health) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), h.s.timeout)
	defer cancel()
	return h.s.c.ping(ctx)
}

// close closes the breaker after a successful probe.
func (h *health) close() {
	h.fails.Store(0)
	h.open.Store(false)
	h.mu.Lock()
	downFor := time.Since(h.openedAt)
	h.mu.Unlock()
	h.s.log.Info("dedupe redis answers again", zap.Duration("down_for", downFor))
}

// queueCommit queues a commit that could not reach Redis; it reports false
// when the queue is off or full.
func (h *health) queueCommit(d *[16]byte, tok Token, expires, now time.Time) bool {
	if h.maxPending < 0 {
		return false
	}
	h.mu.Lock()
	full := len(h.pending) >= h.maxPending
	if !full {
		h.pending = append(h.pending, pendingCommit{d: *d, tok: tok, expires: expires, queued: now})
	}
	h.mu.Unlock()
	if full {
		h.s.log.Error("dedupe commit queue is full; this commit is not retried and a retry of its event may be forwarded again",
			zap.String("reason", "dedupe_commit_queue_full"), zap.Int("pending_commits", h.maxPending))
		return false
	}
	h.poke()
	return true
}

// pendingLen counts the commits Redis does not have yet: queued, and taken
// by a retry still waiting for its answer (so zero means all are written).
func (h *health) pendingLen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending) + h.retrying
}

// maxCommitBatch bounds the queued commits sent in one pipeline.
const maxCommitBatch = 256

// retryPending sends the queued commits, each with its claim's token and
// the TTL it has left, in pipelines of maxCommitBatch. A commit that fails
// again is queued again, unless it is older than maxAge.
func (h *health) retryPending() {
	h.mu.Lock()
	queued := h.pending
	h.pending = nil
	h.retrying = len(queued)
	h.mu.Unlock()
	if len(queued) == 0 {
		return
	}
	// A panic on the way (recovered by the loop) must not lose the
	// queue: queue it all again (a commit already written is written
	// again harmlessly: the script leaves a done key as it is).
	settled := false
	defer func() {
		if !settled {
			h.mu.Lock()
			h.pending = append(queued, h.pending...)
			h.retrying = 0
			h.mu.Unlock()
		}
	}()
	var (
		again                     []pendingCommit
		ok, lost, expired, failed int
		lastErr                   error
	)
	now := time.Now()
	live := queued[:0:0]
	for _, p := range queued {
		if now.Sub(p.queued) > h.maxAge || !p.expires.After(now) {
			expired++
			continue
		}
		live = append(live, p)
	}
	for batch := range slices.Chunk(live, maxCommitBatch) {
		keys, args := make([]string, len(batch)), make([][]string, len(batch))
		for i, p := range batch {
			keys[i], args[i] = h.s.redisKey(&p.d), []string{tokenArg(p.tok), millis(p.expires.Sub(now))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.s.timeout)
		ns, errs := h.s.c.evalMulti(ctx, scriptCommit, keys, args)
		cancel()
		for i, err := range errs {
			switch {
			case err != nil:
				failed++
				lastErr = err
				again = append(again, batch[i])
			case ns[i] != 0:
				lost++
			default:
				ok++
			}
		}
	}
	h.mu.Lock()
	h.pending = append(again, h.pending...)
	h.retrying = 0
	h.mu.Unlock()
	settled = true
	if len(again) > 0 {
		h.failed(context.Background(), lastErr)
	} else {
		h.succeeded()
	}
	log := h.s.log.Info
	if lost > 0 || expired > 0 {
		log = h.s.log.Warn
	}
	log("queued dedupe commits retried",
		zap.Int("committed", ok), zap.Int("claim_lost", lost), zap.Int("dropped_too_old", expired),
		zap.Int("failed_again", failed), zap.NamedError("last_error", lastErr))
}

// adopt queues the commits another store handed over, within maxPending.
func (h *health) adopt(commits []pendingCommit) (dropped int) {
	if h.maxPending < 0 {
		return len(commits)
	}
	h.mu.Lock()
	room := max(h.maxPending-len(h.pending)-h.retrying, 0)
	if len(commits) > room {
		dropped, commits = len(commits)-room, commits[:room]
	}
	h.pending = append(h.pending, commits...)
	h.mu.Unlock()
	h.poke()
	return dropped
}

// takePending removes and returns the queued commits (not one whose retry
// is on the wire).
func (h *health) takePending() []pendingCommit {
	h.mu.Lock()
	defer h.mu.Unlock()
	taken := h.pending
	h.pending = nil
	return taken
}

// stop ends the loop, tries the queued commits once more while the server
// answers (a last flush, bounded by the timeout), and closes the backend;
// those still queued then are dropped and logged. A store that never
// started contacts nothing, and cannot start afterwards.
func (h *health) stop() {
	h.stopOnce.Do(func() {
		h.startOnce.Do(func() { close(h.done) })
		close(h.quit)
		<-h.done
		if h.started && h.pendingLen() > 0 && !h.open.Load() {
			recovery.Do(h.s.log, "dedupe.redis_health", h.retryPending)
		}
		if n := h.pendingLen(); n > 0 {
			h.s.log.Warn("dedupe store closed with commits still queued; retries of their events may be forwarded again",
				zap.String("reason", "dedupe_commit_dropped"), zap.Int("pending_commits", n))
		}
		h.s.c.close()
	})
}
