package screenshotcenterwebhook

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
)

// RedisConfig configures the redis dedupe backend: Redis or Valkey, a
// single server, Sentinel or Redis Cluster.
type RedisConfig struct {
	// URL is the server of the redis backend:
	// redis://[user:password@]host:port/db, or rediss:// for TLS; go-redis
	// query parameters such as dial_timeout are accepted. Write it as a
	// placeholder such as `{env.REDIS_URL}` (resolved at provision) so a
	// password does not appear in the config; it is never logged. Set URL
	// or Addresses, not both.
	URL string `json:"url,omitempty"`

	// Addresses are host:port addresses of the redis backend, instead of
	// URL: one is a single server, several are Redis Cluster seed nodes, and
	// with MasterName they are the Sentinels.
	Addresses []string `json:"addresses,omitempty"`

	// MasterName is the Sentinel master name; it needs Addresses.
	MasterName string `json:"master_name,omitempty"`

	// Username is the Redis ACL user, with Addresses (with URL, put it in
	// the URL). Placeholders are resolved at provision.
	Username string `json:"username,omitempty"`

	// Password is the Redis password, with Addresses (with URL, put it in
	// the URL). Write it as `{env.NAME}` or `{file./path}` so it does not
	// appear in the config; it is never logged.
	Password string `json:"password,omitempty"`

	// TLS makes the redis backend connect with TLS (1.2 or later, server
	// certificate verified), with Addresses. With URL, use rediss://.
	TLS bool `json:"tls,omitempty"`

	// KeyPrefix starts every Redis key the redis backend sets (followed by
	// 32 hex digits of a SHA-256 of the dedupe key, so event ids are not
	// stored). Gateways share dedupe when they share the server and the
	// prefix. Default: "scgate:".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// Timeout bounds each redis backend operation (claim, commit, release),
	// connecting included. A claim that takes longer is a store error,
	// answered by OnError. Default: 250ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// What the handler does when the dedupe store cannot answer.
const (
	// OnErrorClosed answers 503 with Retry-After and forwards nothing: the
	// sender retries later. No event is delivered twice, and none is lost
	// as long as the sender keeps retrying until the store is back.
	OnErrorClosed = "closed"
	// OnErrorOpen forwards without dedupe, logging each such event at error
	// level and counting it in scgate_dedupe_fail_open_total: nothing waits
	// for the store, but retries may be delivered twice meanwhile.
	OnErrorOpen = "open"
)

// Defaults of the redis backend.
const (
	DefaultRedisTimeout = dedupe.DefaultRedisTimeout
	DefaultKeyPrefix    = dedupe.DefaultRedisKeyPrefix
)

// storeRetryAfter is the Retry-After, in seconds, of a 503 answered because
// the store failed.
const storeRetryAfter = "30"

// metricFailOpen counts events forwarded without dedupe under on_error open.
var metricFailOpen = prometheus.NewCounter(prometheus.CounterOpts{
	Namespace: "scgate",
	Subsystem: "dedupe",
	Name:      "fail_open_total",
	Help:      "Events forwarded without dedupe because the store failed and on_error is open.",
})

func registerRedisMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(metricFailOpen); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// redisConn is the resolved connection settings of a redis backend.
type redisConn struct {
	url        string
	addrs      []string
	masterName string
	username   string
	password   string
	tls        bool
	timeout    time.Duration
}

// resolveRedisConn resolves the placeholders of d's connection settings.
func resolveRedisConn(d *RedisConfig, repl *caddy.Replacer) redisConn {
	c := redisConn{
		url:        strings.TrimSpace(repl.ReplaceKnown(d.URL, "")),
		masterName: d.MasterName,
		username:   repl.ReplaceKnown(d.Username, ""),
		password:   repl.ReplaceKnown(d.Password, ""),
		tls:        d.TLS,
		timeout:    time.Duration(d.Timeout),
	}
	for _, a := range d.Addresses {
		c.addrs = append(c.addrs, repl.ReplaceKnown(a, ""))
	}
	return c
}

// poolKey names the client of these settings in the stores pool. It is a
// digest, so the password is not kept in a map key.
func (c redisConn) poolKey() string {
	h := sha256.New()
	for _, s := range append([]string{c.url, c.masterName, c.username, c.password,
		strconv.FormatBool(c.tls), c.timeout.String()}, c.addrs...) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "redis:" + hex.EncodeToString(h.Sum(nil))
}

// check reports a settings error without ever showing the URL or password.
func (c redisConn) check() error {
	switch {
	case c.url == "" && len(c.addrs) == 0:
		return errors.New("dedupe redis needs url or addresses (is the url's variable set?)")
	case c.url != "" && len(c.addrs) > 0:
		return errors.New("dedupe redis takes url or addresses, not both")
	case c.url != "" && (c.masterName != "" || c.username != "" || c.password != "" || c.tls):
		return errors.New("dedupe redis: master_name, username, password and tls go with addresses; put credentials and rediss:// in the url")
	}
	for _, a := range c.addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("dedupe redis address %q is not host:port", a)
		}
	}
	if c.url != "" {
		if _, err := c.options(); err != nil {
			return err
		}
	}
	return nil
}

// options builds the client options. Every operation is bounded by the
// timeout; the url's own query parameters (dial_timeout, ...) win.
func (c redisConn) options() (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{ClientName: "scgate"}
	if c.url != "" {
		u, err := redis.ParseURL(c.url)
		if err != nil {
			// No detail: parse errors quote parts of the URL, and a part
			// may be the password.
			return nil, errors.New("dedupe redis url is invalid (details not shown, they may hold a password); want redis://[user:password@]host:port/db, rediss://... or unix:///path")
		}
		o.Addrs = []string{u.Addr}
		o.Username, o.Password, o.DB = u.Username, u.Password, u.DB
		o.TLSConfig = u.TLSConfig
		o.Protocol = u.Protocol
		o.MaxRetries = u.MaxRetries
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = u.DialTimeout, u.ReadTimeout, u.WriteTimeout, u.PoolTimeout
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns = u.PoolSize, u.MinIdleConns, u.MaxIdleConns
	} else {
		o.Addrs = c.addrs
		o.MasterName = c.masterName
		o.Username, o.Password = c.username, c.password
		if c.tls {
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	t := c.timeout
	if t <= 0 {
		t = DefaultRedisTimeout
	}
	for _, p := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout} {
		if *p == 0 {
			*p = t
		}
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}

// pooledClient adapts a shared Redis client to caddy.Destructor: it is
// closed when the last config using it is cleaned up.
type pooledClient struct{ redis.UniversalClient }

func (p pooledClient) Destruct() error { return p.Close() }

// loadRedisStore returns a store on the shared client of d's connection
// settings, creating the client on first use. It never waits for the
// server: the client connects lazily, and a background check logs a warning
// if the server does not answer, so `caddy validate` and a start with Redis
// down do not block.
func loadRedisStore(d *RedisConfig, onError string, logger *zap.Logger) (dedupe.Store, string, error) {
	conn := resolveRedisConn(d, caddy.NewReplacer())
	if err := conn.check(); err != nil {
		return nil, "", err
	}
	key := conn.poolKey()
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		opts, err := conn.options()
		if err != nil {
			return nil, err
		}
		return pooledClient{redis.NewUniversalClient(opts)}, nil
	})
	if err != nil {
		return nil, "", err
	}
	client := v.(pooledClient).UniversalClient
	store := dedupe.NewRedisStore(client, d.KeyPrefix, time.Duration(d.Timeout))
	if !loaded {
		go func() {
			err := store.Ping(context.Background())
			if err != nil && !errors.Is(err, redis.ErrClosed) {
				logger.Warn("dedupe redis does not answer yet; until it does, events are answered by on_error",
					zap.String("on_error", onError), zap.Error(err))
			}
		}()
	}
	return store, key, nil
}

// claimFailed answers an event whose claim failed for a reason other than
// a full store, as on_error says.
func (h *Handler) claimFailed(w http.ResponseWriter, r *http.Request, vars *requestVars, err error, next caddyhttp.Handler) error {
	if h.Dedupe.OnError == OnErrorOpen {
		metricFailOpen.Inc()
		h.log(zapcore.ErrorLevel, "dedupe store unavailable; forwarding WITHOUT dedupe (on_error open): retries of this event may be delivered twice", r,
			zap.String("reason", reasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(err))
		r.Header[HeaderVerified] = headerTrue
		r.Header[HeaderDedupeKey] = []string{headerSafe(vars.key)}
		return h.forward(w, r, vars, "", 0, next)
	}
	w.Header().Set("Retry-After", storeRetryAfter)
	h.log(zapcore.ErrorLevel, "dedupe claim failed; answering 503 so the sender retries (on_error closed)", r,
		zap.String("reason", reasonStoreError), zap.String("dedupe_key", vars.key), zap.Error(err))
	return h.unavailable(vars, reasonStoreError, errStore)
}
