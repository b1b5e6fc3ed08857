package dedupe

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// DefaultRedisKeyPrefix is the default prefix of the keys a RedisStore sets.
const DefaultRedisKeyPrefix = "scgate:"

// DefaultRedisTimeout is the default bound of one RedisStore operation.
const DefaultRedisTimeout = 250 * time.Millisecond

// ErrUnavailable wraps every error of a RedisStore that could not reach
// Redis: the server is down, too slow, or the store's circuit breaker is
// open because it was just found down; and the error of a PersistedStore
// whose snapshot is not loaded. Callers answer 503 (or fail open).
var ErrUnavailable = errors.New("dedupe store unavailable")

// ErrCommitPending is returned (wrapped in ErrUnavailable) by a RedisStore's
// Commit that could not reach Redis but queued the commit: it is retried in
// the background with the claim's token once Redis answers again, and this
// gateway answers later copies of the event as duplicates meanwhile.
var ErrCommitPending = errors.New("dedupe commit queued until the store answers again")

// scriptID names one of the store's scripts.
type scriptID int

const (
	scriptClaim scriptID = iota
	scriptCommit
	scriptRelease
)

// Each operation is one script on one key, so it is atomic on a single
// server and in a Cluster alike (a one-key script never crosses slots).
var scriptSources = [...]string{
	// Claim: 0 claimed, 1 in flight, 2+ms done with ms milliseconds of TTL
	// left (2 when the key has no TTL: nothing is cached then). A claim
	// finding its own token is a client retry of a claim that succeeded but
	// whose answer was lost: it is still ours.
	scriptClaim: `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return 0 end
if v then
  if v == 'd' then
    local ms = redis.call('PTTL', KEYS[1])
    if ms < 0 then ms = 0 end
    return 2 + ms
  end
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0`,

	// Commit records done whatever the key holds, as the plain SET ... GET
	// of redisClient.commit does: the upstream accepted the event, so it is
	// delivered whoever holds the claim. 0 ok (our claim, none, or done),
	// 1 claim lost (another claim took the key and is overwritten).
	scriptCommit: `
local v = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
if v and v ~= 'd' and v ~= ARGV[1] then return 1 end
return 0`,

	// Release forgets the key only if the claim is still ours; a missing
	// key is already forgotten, a done key or another claim is refused.
	// 0 ok, 1 claim lost.
	scriptRelease: `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
return 0`,
}

// RedisOptions configure a RedisStore.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/db, rediss:// (TLS) or
	// unix:///path. Set URL or Addrs, not both.
	URL string
	// Addrs are host:port: one is a single server, several are Cluster seed
	// nodes, and with MasterName they are the Sentinels.
	Addrs []string
	// MasterName is the Sentinel master name (needs Addrs).
	MasterName string
	// Username and Password authenticate with Addrs (with URL, put them in
	// the URL).
	Username, Password string
	// TLS connects with TLS 1.2 or later, server certificate verified (with
	// Addrs; with URL use rediss://).
	TLS bool

	// KeyPrefix starts every key (DefaultRedisKeyPrefix when empty).
	KeyPrefix string
	// Timeout bounds each operation, connecting included
	// (DefaultRedisTimeout when <= 0).
	Timeout time.Duration

	// Logger receives the store's own messages (breaker opened and closed,
	// commits retried). Nil: no logging.
	Logger *zap.Logger

	// DoneCacheKeys bounds the local cache of keys known done, which answers
	// duplicates without asking Redis (DefaultDoneCacheKeys when 0, no cache
	// when negative).
	DoneCacheKeys int
	// ProbeInterval is how often the store probes Redis while it is known
	// down, and retries queued commits (DefaultProbeInterval when <= 0).
	ProbeInterval time.Duration
	// PendingCommits bounds the commits queued while Redis is down
	// (DefaultPendingCommits when 0, no queue when negative).
	PendingCommits int
	// PendingCommitAge is how long a queued commit is retried before it is
	// dropped (DefaultPendingCommitAge when <= 0).
	PendingCommitAge time.Duration
}

// Defaults of RedisOptions.
const (
	DefaultDoneCacheKeys    = 65536
	DefaultProbeInterval    = 50 * time.Millisecond
	DefaultPendingCommits   = 10000
	DefaultPendingCommitAge = 10 * time.Minute
)

// RedisStore is a Store on Redis or Valkey, shared by every gateway that
// uses the same server and key prefix, so a retry is recognized whichever
// gateway it reaches and across restarts. It works with a single server,
// Sentinel and Redis Cluster.
//
// Keys are the prefix followed by the hex of the first 16 bytes of the
// SHA-256 of the dedupe key, so their size is fixed and event ids are not
// stored in Redis. A key holds "d" when done, or the decimal token of the
// claim in flight; its Redis TTL is the ttl or inflight timeout.
//
// Beyond Redis, the store keeps a bounded cache of keys it saw done (done is
// terminal until the TTL passes, so the cache answers duplicates without a
// round trip), a circuit breaker that fails calls at once while Redis is
// known down and closes as soon as a background probe gets an answer, and a
// bounded queue of commits that failed, retried with their claim's token.
type RedisStore struct {
	c       *redisClient
	prefix  string
	timeout time.Duration
	log     *zap.Logger
	done    *doneCache // nil: no cache
	health  *health
}

// NewRedisStore returns a store on the Redis deployment of o. It connects
// to nothing and starts nothing: Start does, in the background, so that a
// config that is only validated, or rejected, never contacts the server.
// Calls made before the first connection attempt ended wait for it (within
// Timeout).
func NewRedisStore(o RedisOptions) (*RedisStore, error) {
	o = o.withDefaults()
	c, err := newRedisClient(o)
	if err != nil {
		return nil, err
	}
	s := &RedisStore{c: c, prefix: o.KeyPrefix, timeout: o.Timeout, log: o.Logger}
	if o.DoneCacheKeys > 0 {
		s.done = newDoneCache(o.DoneCacheKeys)
	}
	s.health = newHealth(s, o)
	return s, nil
}

// Start starts the store's background work, without waiting for it: the
// first connection attempt, then the probe while Redis is known down and
// the retry of queued commits. It is idempotent, and does nothing after
// Close.
func (s *RedisStore) Start() { s.health.start() }

func (o RedisOptions) withDefaults() RedisOptions {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultRedisKeyPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.DoneCacheKeys == 0 {
		o.DoneCacheKeys = DefaultDoneCacheKeys
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.PendingCommits == 0 {
		o.PendingCommits = DefaultPendingCommits
	}
	if o.PendingCommitAge <= 0 {
		o.PendingCommitAge = DefaultPendingCommitAge
	}
	return o
}

// The settings errors that a config can also report before its
// placeholders are resolved (one message for each rule, wherever it is
// checked).
var (
	ErrRedisNoServer             = errors.New("dedupe redis needs url or addresses")
	ErrRedisMasterNameNeedsAddrs = errors.New("dedupe master_name needs addresses (the Sentinels)")
)

// Check reports a settings error without showing the URL or the password.
func (o RedisOptions) Check() error {
	switch {
	case o.URL == "" && len(o.Addrs) == 0:
		return ErrRedisNoServer
	case o.URL != "" && len(o.Addrs) > 0:
		return errors.New("dedupe redis takes url or addresses, not both")
	case o.URL != "" && (o.MasterName != "" || o.Username != "" || o.Password != "" || o.TLS):
		return errors.New("dedupe redis: master_name, username, password and tls go with addresses; put credentials and rediss:// in the url")
	case o.MasterName != "" && len(o.Addrs) == 0:
		return ErrRedisMasterNameNeedsAddrs
	}
	_, err := clientOptions(o)
	return err
}

// errBadURL never quotes the URL: parse errors may hold the password.
var errBadURL = errors.New("dedupe redis url is invalid (details not shown, they may hold a password); want redis://[user:password@]host:port/db, rediss://... or unix:///path")

// redisKey is the Redis key of a digest.
func (s *RedisStore) redisKey(d *[16]byte) string {
	var buf [64 + 32]byte
	b := append(buf[:0], s.prefix...)
	b = hex.AppendEncode(b, d[:])
	return string(b)
}

// newToken returns a random, non-zero token. Tokens of different gateways
// must not collide, so a counter would not do.
func newToken() Token {
	for {
		if t := rand.Uint64(); t != 0 {
			return Token(t)
		}
	}
}

// tokenArg is tok as a script argument.
func tokenArg(tok Token) string { return strconv.FormatUint(uint64(tok), 10) }

// millis is d in whole milliseconds, at least 1 (PX refuses 0).
func millis(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}

// run runs a script through the breaker (see call).
func (s *RedisStore) run(ctx context.Context, id scriptID, rkey string, args ...string) (int64, error) {
	return s.call(ctx, func(ctx context.Context) (int64, error) { return s.c.eval(ctx, id, rkey, args) })
}

// call makes one store operation through the breaker, within the store's
// timeout: it fails at once while Redis is known down, and reports the
// outcome to it.
func (s *RedisStore) call(ctx context.Context, op func(context.Context) (int64, error)) (int64, error) {
	if err := s.health.admit(ctx); err != nil {
		return 0, err
	}
	opCtx, cancel := context.WithTimeout(ctx, s.timeout)
	n, err := op(opCtx)
	// A connection the server closed (a restart, a failover) fails the
	// calls made on it until the client noticed; it reconnects, and every
	// operation is safe to make again (the token decides).
	for again := 0; again < brokenConnRetries && brokenConn(err) && opCtx.Err() == nil; again++ {
		n, err = op(opCtx)
	}
	cancel()
	if err != nil {
		return 0, s.health.failed(ctx, err)
	}
	s.health.succeeded()
	return n, nil
}

// Claim implements Store.
func (s *RedisStore) Claim(ctx context.Context, key string, inflight time.Duration) (State, Token, error) {
	d := digest(key)
	now := time.Now()
	if s.done.has(&d, now) {
		return Done, 0, nil
	}
	tok := newToken()
	n, err := s.call(ctx, func(ctx context.Context) (int64, error) {
		return s.c.claim(ctx, s.redisKey(&d), tokenArg(tok), millis(inflight))
	})
	if err != nil {
		return 0, 0, err
	}
	switch {
	case n == 0:
		return Claimed, tok, nil
	case n == 1:
		return InFlight, 0, nil
	case n >= 2:
		// Seen done here: cached until Redis's own expiry at the latest
		// (now is before the server read the TTL).
		s.done.add(&d, now.Add(time.Duration(n-2)*time.Millisecond))
		return Done, 0, nil
	}
	return 0, 0, fmt.Errorf("redis: unexpected claim result %d", n)
}

// Commit implements Store: one SET, which records done also over another
// claim that took the key after this one lapsed (and reports ErrClaimLost;
// see redisClient.commit). A commit that cannot reach Redis is queued and
// retried in the background (see ErrCommitPending); the retry, like a server
// before Redis 6.2, runs the commit script, which records done the same way.
func (s *RedisStore) Commit(ctx context.Context, key string, tok Token, ttl time.Duration) error {
	d := digest(key)
	now := time.Now()
	rkey := s.redisKey(&d)
	n, err := s.call(ctx, func(ctx context.Context) (int64, error) {
		return s.c.commit(ctx, rkey, tokenArg(tok), millis(ttl))
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return err
		}
		if s.health.queueCommit(&d, tok, now.Add(ttl), now) {
			// The upstream accepted the event: this gateway can answer its
			// copies as duplicates even before Redis hears of it.
			s.done.add(&d, now.Add(ttl))
			return fmt.Errorf("%w: %w", ErrCommitPending, err)
		}
		return err
	}
	s.done.add(&d, now.Add(ttl))
	if n != 0 {
		return ErrClaimLost
	}
	return nil
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, key string, tok Token) error {
	d := digest(key)
	n, err := s.run(ctx, scriptRelease, s.redisKey(&d), tokenArg(tok))
	if err != nil {
		return err
	}
	if n != 0 {
		return ErrClaimLost
	}
	return nil
}

// Ping checks that the server answers, within the store's timeout. It
// bypasses the breaker.
func (s *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.c.ping(ctx); err != nil {
		return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
	}
	return nil
}

// HandOver moves the commits queued for retry to store to, which writes
// them under its own key prefix and answers their events as done
// meanwhile: a config reload that replaces this store (new Redis settings)
// calls it before closing this one, so that they are not dropped. It
// returns how many moved; beyond to's PendingCommits bound the rest are
// dropped and logged. A retry already on the wire stays with this store.
func (s *RedisStore) HandOver(to *RedisStore) int {
	if to == nil || to == s {
		return 0
	}
	moved := s.health.takePending()
	if len(moved) == 0 {
		return 0
	}
	if to.done != nil {
		for i := range moved {
			to.done.add(&moved[i].d, moved[i].expires)
		}
	}
	if dropped := to.health.adopt(moved); dropped > 0 {
		to.log.Error("dedupe commit queue is full; commits handed over by the replaced store are not retried and retries of their events may be forwarded again",
			zap.String("reason", "dedupe_commit_queue_full"), zap.Int("dropped", dropped))
		return len(moved) - dropped
	}
	return len(moved)
}

// PendingCommits is the number of commits queued for retry.
func (s *RedisStore) PendingCommits() int { return s.health.pendingLen() }

// Close stops the background work and closes the client. It is safe to
// call twice. A started store tries its queued commits once more while
// Redis answers; those still queued then are dropped (and logged). A store
// that was never started contacts nothing.
func (s *RedisStore) Close() error {
	s.health.stop()
	return nil
}

// brokenConnRetries bounds the calls made again after a connection the
// server closed (each of rueidis's pipelined connections may fail once).
const brokenConnRetries = 3

// brokenConn reports an error of a connection the server closed under the
// call (not a timeout, not an answer).
func brokenConn(err error) bool {
	if err == nil {
		return false
	}
	if _, isAnswer := rueidis.IsRedisErr(err); isAnswer {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
