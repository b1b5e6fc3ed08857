package dedupe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisKeyPrefix is the default prefix of the keys a RedisStore sets.
const DefaultRedisKeyPrefix = "scgate:"

// DefaultRedisTimeout is the default bound of one RedisStore operation.
const DefaultRedisTimeout = 250 * time.Millisecond

// The value of a committed key. An in-flight key holds its claim's token in
// decimal, which never equals it.
const redisDone = "d"

// Each operation is one script on one key, so it is atomic on a single
// server and in a Cluster alike (a one-key script never crosses slots).
// Script results: 0 ok / claimed, 1 in flight / claim lost, 2 done.
var (
	// A claim finding its own token is a client retry of a claim that
	// succeeded but whose answer was lost: it is still ours.
	redisClaim = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return 0 end
if v then
  if v == 'd' then return 2 end
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0`)

	// Commit records done if the claim is still ours or nobody holds the
	// key (it lapsed and was not taken); a done key is left as it is.
	redisCommit = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == 'd' then return 0 end
if v and v ~= ARGV[1] then return 1 end
redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
return 0`)

	// Release forgets the key only if the claim is still ours; a missing
	// key is already forgotten, a done key or another claim is refused.
	redisRelease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if v ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
return 0`)
)

// RedisStore is a Store on Redis or Valkey, shared by every gateway that
// uses the same server and key prefix, so a retry is recognized whichever
// gateway it reaches and across restarts. It works with a single server,
// Sentinel and Redis Cluster (any redis.UniversalClient).
//
// Keys are the prefix followed by the hex of the first 16 bytes of the
// SHA-256 of the dedupe key, so their size is fixed and event ids are not
// stored in Redis. A key holds "d" when done, or the decimal token of the
// claim in flight; its Redis TTL is the ttl or inflight timeout.
type RedisStore struct {
	c       redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// NewRedisStore returns a store on c. Keys get prefix (DefaultRedisKeyPrefix
// when empty); each operation is bounded by timeout (DefaultRedisTimeout
// when <= 0). The store does not own c: Close leaves it open.
func NewRedisStore(c redis.UniversalClient, prefix string, timeout time.Duration) *RedisStore {
	if prefix == "" {
		prefix = DefaultRedisKeyPrefix
	}
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	return &RedisStore{c: c, prefix: prefix, timeout: timeout}
}

// redisKey is the Redis key of a dedupe key.
func (s *RedisStore) redisKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	var buf [64 + 32]byte
	b := append(buf[:0], s.prefix...)
	b = hex.AppendEncode(b, sum[:16])
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

// millis is d in whole milliseconds, at least 1 (PX refuses 0).
func millis(d time.Duration) int64 {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return ms
}

func (s *RedisStore) run(ctx context.Context, script *redis.Script, key string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := script.Run(ctx, s.c, []string{s.redisKey(key)}, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("redis: %w", err)
	}
	return n, nil
}

// Claim implements Store.
func (s *RedisStore) Claim(ctx context.Context, key string, inflight time.Duration) (State, Token, error) {
	tok := newToken()
	n, err := s.run(ctx, redisClaim, key, strconv.FormatUint(uint64(tok), 10), millis(inflight))
	if err != nil {
		return 0, 0, err
	}
	switch n {
	case 0:
		return Claimed, tok, nil
	case 1:
		return InFlight, 0, nil
	case 2:
		return Done, 0, nil
	}
	return 0, 0, fmt.Errorf("redis: unexpected claim result %d", n)
}

// Commit implements Store.
func (s *RedisStore) Commit(ctx context.Context, key string, tok Token, ttl time.Duration) error {
	n, err := s.run(ctx, redisCommit, key, strconv.FormatUint(uint64(tok), 10), millis(ttl))
	if err != nil {
		return err
	}
	if n != 0 {
		return ErrClaimLost
	}
	return nil
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, key string, tok Token) error {
	n, err := s.run(ctx, redisRelease, key, strconv.FormatUint(uint64(tok), 10))
	if err != nil {
		return err
	}
	if n != 0 {
		return ErrClaimLost
	}
	return nil
}

// Ping checks that the server answers, within the store's timeout.
func (s *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.c.Ping(ctx).Err()
}

// Close implements Store. The client belongs to the caller, who closes it.
func (s *RedisStore) Close() error { return nil }
