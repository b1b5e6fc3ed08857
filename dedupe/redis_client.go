package dedupe

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// redisClient runs the store's scripts on a rueidis client. rueidis
// pipelines concurrent calls on a few shared connections: the claims of
// concurrent requests go out together, and their answers come back in one
// read (see redis-choice.md for the comparison with go-redis).
//
// rueidis connects when the client is made (to tell a Cluster from a single
// server), so the client is made by the first ping that succeeds, from the
// store's background loop, never by a request. rueidis itself logs nothing:
// every failure comes back as an error, which the store logs through zap.
type redisClient struct {
	opt     rueidis.ClientOption
	client  atomic.Pointer[rueidis.Client]
	mu      sync.Mutex // serializes connecting and closing
	closed  bool
	scripts [len(scriptSources)]script
	// scriptsOnly: claims and commits run as Lua scripts, because the
	// server refused SET with both NX and GET (before Redis 7.0), or a
	// test asked for it.
	scriptsOnly atomic.Bool
}

// script is a Lua script and its SHA-1, for EVALSHA.
type script struct {
	src, sha string
}

// errNotConnected is the answer before the client is made.
var errNotConnected = errors.New("not connected yet")

// Sizes of rueidis's per-connection buffers: the store's commands and
// answers are under 200 bytes, the library's 0.5 MiB default is for bulk use.
const rueidisBufferSize = 64 << 10

// sentinelRefresh is how often the Sentinel client checks the master with
// the Sentinels, beyond their +switch-master events (rueidis recommends it:
// a missed event would otherwise bind the client to the old master).
const sentinelRefresh = 5 * time.Second

func newRedisClient(o RedisOptions) (*redisClient, error) {
	opt, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	c := &redisClient{opt: opt}
	for i, src := range scriptSources {
		sum := sha1.Sum([]byte(src))
		c.scripts[i] = script{src: src, sha: hex.EncodeToString(sum[:])}
	}
	return c, nil
}

// clientOptions maps the store's settings to client options. The URL's own
// query parameters (dial_timeout, ...) win over the timeout.
func clientOptions(o RedisOptions) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if o.URL != "" {
		var err error
		if opt, err = rueidis.ParseURL(o.URL); err != nil {
			return opt, errBadURL
		}
	} else {
		for _, a := range o.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return opt, errors.New(`dedupe redis address "` + a + `" is not host:port`)
			}
		}
		opt.InitAddress = append([]string(nil), o.Addrs...)
		opt.Username, opt.Password = o.Username, o.Password
		if o.TLS {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if o.MasterName != "" {
			opt.Sentinel.MasterSet = o.MasterName
			opt.Sentinel.TLSConfig = opt.TLSConfig
			opt.Sentinel.Dialer.Timeout = o.Timeout
			opt.Sentinel.TopologyRefreshInterval = sentinelRefresh
		}
	}
	if opt.ClientName == "" {
		opt.ClientName = "scgate"
	}
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = o.Timeout
	}
	// No client-side caching: the store keeps its own cache of done keys,
	// and tracking would cost Redis an invalidation table.
	opt.DisableCache = true
	opt.ReadBufferEachConn, opt.WriteBufferEachConn = rueidisBufferSize, rueidisBufferSize
	return opt, nil
}

func (c *redisClient) get() (rueidis.Client, error) {
	p := c.client.Load()
	if p == nil {
		return nil, errNotConnected
	}
	return *p, nil
}

// eval runs script id on key and returns its integer result.
func (c *redisClient) eval(ctx context.Context, id scriptID, key string, args []string) (int64, error) {
	rc, err := c.get()
	if err != nil {
		return 0, err
	}
	s := &c.scripts[id]
	n, err := rc.Do(ctx, rc.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(key).Arg(args...).Build()).AsInt64()
	if isNoScript(err) {
		// A restarted or failed-over server has an empty script cache.
		n, err = rc.Do(ctx, rc.B().Eval().Script(s.src).Numkeys(1).Key(key).Arg(args...).Build()).AsInt64()
	}
	return n, err
}

// evalMulti runs script id once per key, all in one pipeline (one write
// and one read per connection, split by slot in a Cluster).
func (c *redisClient) evalMulti(ctx context.Context, id scriptID, keys []string, args [][]string) ([]int64, []error) {
	ns, errs := make([]int64, len(keys)), make([]error, len(keys))
	rc, err := c.get()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return ns, errs
	}
	s := &c.scripts[id]
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = rc.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(k).Arg(args[i]...).Build()
	}
	var again []int
	for i, r := range rc.DoMulti(ctx, cmds...) {
		if ns[i], errs[i] = r.AsInt64(); isNoScript(errs[i]) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return ns, errs
	}
	cmds = cmds[:0]
	for _, i := range again {
		cmds = append(cmds, rc.B().Eval().Script(s.src).Numkeys(1).Key(keys[i]).Arg(args[i]...).Build())
	}
	for j, r := range rc.DoMulti(ctx, cmds...) {
		ns[again[j]], errs[again[j]] = r.AsInt64()
	}
	return ns, errs
}

// The claim of every new event is plain commands, not a script: SET key
// token NX GET PX ms answers nil when it set the key (claimed), the token
// when this claim already holds it (a retried call whose answer was lost),
// "d" when the event is done (then PTTL, a second round trip only for a
// duplicate the local cache did not know, gives its time left for the
// cache), another token when a copy is in flight. Redis runs it in a few
// microseconds where a script costs it several times that. The commit is
// one plain command too (see commit). Release stays a script: it must not
// touch a key another claim holds or a done key (the token decides), which
// no plain command of Redis 7 can check. Before Redis 7.0 SET refuses NX
// with GET: the client then keeps to the scripts.

// claim answers as the claim script does: 0
// claimed, 1 in flight, 2+ms done with ms of TTL left.
func (c *redisClient) claim(ctx context.Context, key, tok, ms string) (int64, error) {
	if c.scriptsOnly.Load() {
		return c.eval(ctx, scriptClaim, key, []string{tok, ms})
	}
	rc, err := c.get()
	if err != nil {
		return 0, err
	}
	v, err := rc.Do(ctx, rc.B().Set().Key(key).Value(tok).Nx().Get().PxMilliseconds(parseMillis(ms)).Build()).ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return 0, nil
	case isSyntaxError(err):
		c.scriptsOnly.Store(true)
		return c.eval(ctx, scriptClaim, key, []string{tok, ms})
	case err != nil:
		return 0, err
	case v == tok:
		return 0, nil
	case v == doneValue:
		// A duplicate the local cache did not know: its time left, so
		// that the cache answers the next copies.
		left, err := rc.Do(ctx, rc.B().Pttl().Key(key).Build()).AsInt64()
		if err != nil || left < 0 {
			left = 0
		}
		return 2 + left, nil
	}
	return 1, nil
}

// commit answers as the commit script does (0 ok, 1 claim lost), with one
// plain command: SET key d PX ttl GET records done whatever the key holds
// and answers what it held. The upstream accepted the event, so it is
// delivered whoever holds the claim now: a claim that lapsed and was taken
// by another copy is overwritten (its commit then finds done, its release
// leaves done alone, and later copies are duplicates instead of being
// forwarded again once that copy fails), and reported as lost. nil (the
// claim lapsed, nobody took it), this token or done are ok. Before Redis
// 6.2 SET refuses GET: the client then keeps to the scripts.
func (c *redisClient) commit(ctx context.Context, key, tok, ms string) (int64, error) {
	if c.scriptsOnly.Load() {
		return c.eval(ctx, scriptCommit, key, []string{tok, ms})
	}
	rc, err := c.get()
	if err != nil {
		return 0, err
	}
	v, err := rc.Do(ctx, rc.B().Set().Key(key).Value(doneValue).Get().PxMilliseconds(parseMillis(ms)).Build()).ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return 0, nil
	case isSyntaxError(err):
		c.scriptsOnly.Store(true)
		return c.eval(ctx, scriptCommit, key, []string{tok, ms})
	case err != nil:
		return 0, err
	case v == tok || v == doneValue:
		return 0, nil
	}
	return 1, nil
}

// doneValue is the value of a delivered event's key.
const doneValue = "d"

func parseMillis(ms string) int64 {
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// isSyntaxError reports a server that refused the command's options.
func isSyntaxError(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.Contains(strings.ToLower(re.Error()), "syntax error")
}

func isNoScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && re.IsNoScript()
}

// ping checks that the server answers, making the client first if needed.
func (c *redisClient) ping(ctx context.Context) error {
	rc, err := c.get()
	if err != nil {
		if rc, err = c.connect(); err != nil {
			return err
		}
	}
	return rc.Do(ctx, rc.B().Ping().Build()).Error()
}

func (c *redisClient) connect() (rueidis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("redis client closed")
	}
	if p := c.client.Load(); p != nil {
		return *p, nil
	}
	rc, err := rueidis.NewClient(c.opt)
	if err != nil {
		return nil, err
	}
	c.client.Store(&rc)
	return rc, nil
}

func (c *redisClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if p := c.client.Load(); p != nil {
		(*p).Close()
	}
}
