package dedupe

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// newBackend picks the client. SCGATE_REDIS_CLIENT=go-redis selects the
// go-redis batching backend; it exists only for the comparison recorded in
// redis-choice.md and is removed with the losing client.
func newBackend(o RedisOptions) (redisBackend, error) {
	switch os.Getenv("SCGATE_REDIS_CLIENT") {
	case "go-redis":
		return newGoredisBackend(o)
	case "go-redis-plain":
		b, err := newGoredisBackend(o)
		if b != nil {
			b.plain = true
		}
		return b, err
	}
	return newRueidisBackend(o)
}

// goredisBackend batches concurrent script calls itself: a few workers each
// take the calls waiting in a queue and send them as one go-redis pipeline
// (one write, one read on one pooled connection).
type goredisBackend struct {
	c       redis.UniversalClient
	scripts [len(scriptSources)]*redis.Script
	calls   chan *goredisCall
	quit    chan struct{}
	wg      sync.WaitGroup
	// plain runs each script on its own, as before this change (the
	// reference of the comparison).
	plain bool
}

// goredisWorkers is how many pipelines may be in flight at once; more
// workers mean smaller batches.
const goredisWorkers = 4

// goredisMaxBatch bounds one pipeline.
const goredisMaxBatch = 128

type goredisCall struct {
	ctx  context.Context
	id   scriptID
	key  string
	args []string
	n    int64
	err  error
	done chan struct{}
}

var goredisCallPool = sync.Pool{New: func() any { return &goredisCall{done: make(chan struct{}, 1)} }}

func newGoredisBackend(o RedisOptions) (*goredisBackend, error) {
	opts, err := goredisOptions(o)
	if err != nil {
		return nil, err
	}
	b := &goredisBackend{
		c:     redis.NewUniversalClient(opts),
		calls: make(chan *goredisCall, 1024),
		quit:  make(chan struct{}),
	}
	for i, src := range scriptSources {
		b.scripts[i] = redis.NewScript(src)
	}
	for range goredisWorkers {
		b.wg.Go(b.work)
	}
	return b, nil
}

func goredisOptions(o RedisOptions) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{ClientName: "scgate"}
	if o.URL != "" {
		u, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, errBadURL
		}
		opts.Addrs = []string{u.Addr}
		opts.Username, opts.Password, opts.DB = u.Username, u.Password, u.DB
		opts.TLSConfig = u.TLSConfig
		opts.DialTimeout = u.DialTimeout
	} else {
		opts.Addrs = o.Addrs
		opts.MasterName = o.MasterName
		opts.Username, opts.Password = o.Username, o.Password
		if o.TLS {
			opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = o.Timeout
	}
	opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = o.Timeout, o.Timeout, o.Timeout
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

func (b *goredisBackend) eval(ctx context.Context, id scriptID, key string, args []string) (int64, error) {
	if b.plain {
		return b.scripts[id].Run(ctx, b.c, []string{key}, toAny(args)...).Int64()
	}
	c := goredisCallPool.Get().(*goredisCall)
	c.ctx, c.id, c.key, c.args = ctx, id, key, args
	select {
	case b.calls <- c:
	case <-ctx.Done():
		goredisCallPool.Put(c)
		return 0, ctx.Err()
	}
	select {
	case <-c.done:
		n, err := c.n, c.err
		c.ctx, c.args, c.err = nil, nil, nil
		goredisCallPool.Put(c)
		return n, err
	case <-ctx.Done():
		return 0, ctx.Err() // c is still the worker's: not reused
	}
}

func (b *goredisBackend) work() {
	batch := make([]*goredisCall, 0, goredisMaxBatch)
	for {
		select {
		case c := <-b.calls:
			batch = append(batch[:0], c)
		case <-b.quit:
			return
		}
	drain:
		for len(batch) < goredisMaxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		b.run(batch)
	}
}

// run sends batch as one pipeline of EVALSHA, then the calls that met an
// empty script cache (a restarted server) again as EVAL.
func (b *goredisBackend) run(batch []*goredisCall) {
	ctx := batch[0].ctx
	cmds := make([]*redis.Cmd, len(batch))
	_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range batch {
			cmds[i] = b.scripts[c.id].EvalSha(ctx, p, []string{c.key}, toAny(c.args)...)
		}
		return nil
	})
	var retry []int
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		_, _ = b.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range retry {
				c := batch[i]
				cmds[i] = b.scripts[c.id].Eval(ctx, p, []string{c.key}, toAny(c.args)...)
			}
			return nil
		})
	}
	for i, c := range batch {
		c.n, c.err = cmds[i].Int64()
		c.done <- struct{}{}
	}
}

func toAny(args []string) []any {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	return a
}

func (b *goredisBackend) ping(ctx context.Context) error { return b.c.Ping(ctx).Err() }

func (b *goredisBackend) close() {
	close(b.quit)
	b.wg.Wait()
	_ = b.c.Close()
}
