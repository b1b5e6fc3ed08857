package dedupe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// rueidisBackend runs the scripts on a rueidis client, which pipelines
// concurrent calls on a few shared connections: the claims and commits of
// concurrent requests go out in one write and come back in one read.
//
// rueidis connects when the client is made (to tell a Cluster from a single
// server), so the client is made by the first ping that succeeds, from the
// store's background loop, never by a request.
type rueidisBackend struct {
	opt     rueidis.ClientOption
	client  atomic.Pointer[rueidis.Client]
	mu      sync.Mutex // serializes connecting and closing
	closed  bool
	scripts [len(scriptSources)]*rueidis.Lua
}

// Sizes of rueidis's per-connection buffers: the store's commands and
// answers are under 200 bytes, the library's 0.5 MiB default is for bulk use.
const rueidisBufferSize = 64 << 10

// sentinelRefresh is how often the Sentinel client checks the master with
// the Sentinels, beyond their +switch-master events (rueidis recommends it:
// a missed event would otherwise bind the client to the old master).
const sentinelRefresh = 5 * time.Second

func newRueidisBackend(o RedisOptions) (*rueidisBackend, error) {
	opt, err := rueidisOptions(o)
	if err != nil {
		return nil, err
	}
	b := &rueidisBackend{opt: opt}
	for i, src := range scriptSources {
		b.scripts[i] = rueidis.NewLuaScript(src)
	}
	return b, nil
}

// rueidisOptions maps the store's settings to client options. The URL's own
// query parameters (dial_timeout, ...) win over the timeout.
func rueidisOptions(o RedisOptions) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if o.URL != "" {
		var err error
		if opt, err = rueidis.ParseURL(o.URL); err != nil {
			return opt, errBadURL
		}
	} else {
		for _, a := range o.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return opt, errors.New("dedupe redis address " + quote(a) + " is not host:port")
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
	// Comparison knobs (temporary, see redis_goredis.go).
	if d, err := time.ParseDuration(os.Getenv("SCGATE_RUEIDIS_FLUSH_DELAY")); err == nil {
		opt.MaxFlushDelay = d
	}
	if m, err := strconv.Atoi(os.Getenv("SCGATE_RUEIDIS_MULTIPLEX")); err == nil {
		opt.PipelineMultiplex = m
	}
	return opt, nil
}

func checkBackendOptions(o RedisOptions) error {
	_, err := rueidisOptions(o)
	return err
}

func (b *rueidisBackend) eval(ctx context.Context, id scriptID, key string, args []string) (int64, error) {
	c := b.client.Load()
	if c == nil {
		return 0, errNotConnected
	}
	return b.scripts[id].Exec(ctx, *c, []string{key}, args).AsInt64()
}

func (b *rueidisBackend) ping(ctx context.Context) error {
	c := b.client.Load()
	if c == nil {
		var err error
		if c, err = b.connect(); err != nil {
			return err
		}
	}
	return (*c).Do(ctx, (*c).B().Ping().Build()).Error()
}

func (b *rueidisBackend) connect() (*rueidis.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("redis client closed")
	}
	if c := b.client.Load(); c != nil {
		return c, nil
	}
	c, err := rueidis.NewClient(b.opt)
	if err != nil {
		return nil, err
	}
	b.client.Store(&c)
	return &c, nil
}

func (b *rueidisBackend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if c := b.client.Load(); c != nil {
		(*c).Close()
	}
}

// quote is s in double quotes, for error messages about non-secret values.
func quote(s string) string { return `"` + s + `"` }
