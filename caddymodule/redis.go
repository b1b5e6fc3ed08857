package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/dedupe"
)

// RedisConfig configures the redis dedupe backend: Redis or Valkey, a
// single server, Sentinel or Redis Cluster.
type RedisConfig struct {
	// URL is the server of the redis backend:
	// redis://[user:password@]host:port/db, rediss:// for TLS, or
	// unix:///path/redis.sock; the query parameters dial_timeout,
	// write_timeout, client_name, protocol and addr (more Cluster seeds) are
	// accepted. Write it as a
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
	// answered by OnError. After three failed operations in a row the store
	// fails at once, without waiting, until a probe (every 50ms) gets an
	// answer; a commit that fails is retried in the background. Default:
	// 250ms.
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

// resolveRedisOptions resolves the placeholders of d's settings into the
// store's options.
func resolveRedisOptions(d *RedisConfig, repl *caddy.Replacer, logger *zap.Logger) dedupe.RedisOptions {
	o := dedupe.RedisOptions{
		URL:        strings.TrimSpace(repl.ReplaceKnown(d.URL, "")),
		MasterName: d.MasterName,
		Username:   repl.ReplaceKnown(d.Username, ""),
		Password:   repl.ReplaceKnown(d.Password, ""),
		TLS:        d.TLS,
		KeyPrefix:  d.KeyPrefix,
		Timeout:    time.Duration(d.Timeout),
		Logger:     logger,
	}
	for _, a := range d.Addresses {
		o.Addrs = append(o.Addrs, repl.ReplaceKnown(a, ""))
	}
	return o
}

// redisPoolKey names the store of these settings in the stores pool: one
// store (one client, one cache of done keys, one breaker) per server, key
// prefix and timeout. It is a digest, so the password is not kept in a map
// key.
func redisPoolKey(o dedupe.RedisOptions) string {
	h := sha256.New()
	for _, s := range append([]string{o.URL, o.MasterName, o.Username, o.Password,
		strconv.FormatBool(o.TLS), o.KeyPrefix, o.Timeout.String()}, o.Addrs...) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return "redis:" + hex.EncodeToString(h.Sum(nil))
}

// loadRedisStore returns the shared store of d's settings, creating it on
// first use. It never waits for the server: the store connects in the
// background and logs a warning if the server does not answer, so `caddy
// validate` and a start with Redis down do not block.
func loadRedisStore(d *RedisConfig, logger *zap.Logger) (dedupe.Store, string, error) {
	o := resolveRedisOptions(d, caddy.NewReplacer(), logger.With(zap.String("dedupe_backend", BackendRedis)))
	if err := o.Check(); err != nil {
		return nil, "", err
	}
	key := redisPoolKey(o)
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := dedupe.NewRedisStore(o)
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledStore).Store, key, nil
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
