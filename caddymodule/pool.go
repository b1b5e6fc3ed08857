package caddymodule

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/dedupe"
)

// stores holds dedupe stores and Redis clients across config reloads: a
// reload provisions the new config (taking a reference) before the old
// one's Cleanup drops its own, so the store and everything it remembers live
// on. A value is destructed (closed, its snapshot written) when its last
// reference goes.
var stores = caddy.NewUsagePool()

// pooledStore adapts a dedupe.Store to caddy.Destructor.
type pooledStore struct{ dedupe.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// memoryPoolKey names the process-wide memory store. Every handler using the
// memory backend shares it; keys carry the event name and id, so events of
// different handlers do not mix unless they are the same event. A memory
// store with a snapshot file is keyed by the file instead.
const memoryPoolKey = "memory"

// DefaultPersistInterval is how often a memory store's snapshot is written
// when persist is set.
const DefaultPersistInterval = time.Minute

// persistedStore is a memory store saved to a snapshot file every interval
// and when it is destructed (on process exit, or when no config uses this
// file any more).
type persistedStore struct {
	*dedupe.MemoryStore
	path   string
	logger *zap.Logger
	stop   chan struct{}
	done   chan struct{}
	// mu serializes saves: the ticker's and the final one.
	mu     sync.Mutex
	closed bool
	saved  uint64 // the store's Commits() at the last write
}

func newPersistedStore(maxKeys int, path string, interval time.Duration, logger *zap.Logger) *persistedStore {
	p := &persistedStore{
		MemoryStore: dedupe.NewMemoryStore(maxKeys),
		path:        path,
		logger:      logger.With(zap.String("persist", path)),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	// A snapshot that cannot be read costs the remembered keys, not the
	// start: the gateway then behaves as after a restart without persist.
	n, err := p.LoadSnapshot(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.logger.Info("no dedupe snapshot yet; starting empty")
	case err != nil:
		p.logger.Error("dedupe snapshot could not be loaded; starting empty (retries of earlier events may be forwarded again)", zap.Error(err))
	default:
		p.logger.Info("dedupe snapshot loaded", zap.Int("keys", n))
	}
	go p.loop(interval)
	return p
}

func (p *persistedStore) loop(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.save()
		}
	}
}

func (p *persistedStore) save() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	// Nothing new since the last write (or since loading): leave the file
	// alone. This also keeps `caddy validate`, which provisions and
	// destructs a store without serving, from rewriting the snapshot of a
	// running gateway.
	commits := p.Commits()
	if commits == p.saved {
		return
	}
	n, err := p.SaveSnapshot(p.path)
	if err != nil {
		p.logger.Error("writing the dedupe snapshot failed", zap.Error(err))
		return
	}
	p.saved = commits
	p.logger.Debug("dedupe snapshot written", zap.Int("keys", n))
}

// Destruct stops the ticker, writes a last snapshot and closes the store.
func (p *persistedStore) Destruct() error {
	close(p.stop)
	<-p.done
	p.save()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return p.Close()
}

// loadMemoryStore returns the shared memory store (the one of persist, if
// set), creating it with maxKeys on first use. A store that already exists
// keeps its bound until the handler serves (see Handler.applyBound), so a
// config that fails to load cannot change the running one's. The persist interval is the one of the config that
// created the store.
func loadMemoryStore(maxKeys int, persist string, interval time.Duration, logger *zap.Logger) (dedupe.Store, string, error) {
	key := memoryPoolKey
	if persist != "" {
		abs, err := filepath.Abs(persist)
		if err != nil {
			return nil, "", err
		}
		persist = abs
		key = memoryPoolKey + ":" + persist
	}
	if interval <= 0 {
		interval = DefaultPersistInterval
	}
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		if persist != "" {
			return newPersistedStore(maxKeys, persist, interval, logger), nil
		}
		return pooledStore{dedupe.NewMemoryStore(maxKeys)}, nil
	})
	if err != nil {
		return nil, "", err
	}
	var ms *dedupe.MemoryStore
	switch v := v.(type) {
	case pooledStore:
		ms = v.Store.(*dedupe.MemoryStore)
	case *persistedStore:
		ms = v.MemoryStore
	}
	return ms, key, nil
}

// provisionStore gets the store of the handler's dedupe backend (Provision
// has set the defaults). It does not contact a Redis server.
func (h *Handler) provisionStore(ctx caddy.Context) error {
	d := h.Dedupe
	if err := registerRedisMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	switch d.Backend {
	case BackendMemory:
		if d.MaxKeys <= 0 {
			return nil // Validate refuses it
		}
		if d.Persist != "" && d.PersistInterval == 0 {
			d.PersistInterval = caddy.Duration(DefaultPersistInterval)
		}
		persist := caddy.NewReplacer().ReplaceKnown(d.Persist, "")
		if d.Persist != "" && persist == "" {
			return errors.New("dedupe persist is empty after resolving placeholders")
		}
		store, key, err := loadMemoryStore(d.MaxKeys, persist, time.Duration(d.PersistInterval), h.logger)
		if err != nil {
			return err
		}
		h.store, h.storeKey = store, key
	case BackendRedis:
		if d.Redis == nil {
			return errors.New("dedupe redis needs url or addresses")
		}
		if d.Redis.KeyPrefix == "" {
			d.Redis.KeyPrefix = DefaultKeyPrefix
		}
		if d.Redis.Timeout == 0 {
			d.Redis.Timeout = caddy.Duration(DefaultRedisTimeout)
		}
		store, key, err := loadRedisStore(d.Redis, h.logger)
		if err != nil {
			return err
		}
		h.store, h.storeKey = store, key
	}
	return nil
}

// validateStore checks the backend settings of d.
func (d *DedupeConfig) validateStore() error {
	switch d.OnError {
	case "", OnErrorClosed, OnErrorOpen:
	default:
		return errors.New("dedupe on_error must be closed or open")
	}
	if d.PersistInterval < 0 {
		return errors.New("dedupe persist_interval must be positive")
	}
	// Settings of another backend would be ignored: refuse them, since an
	// operator would not notice until events are duplicated.
	if d.Backend != BackendRedis && d.Redis != nil {
		return errors.New("dedupe redis settings apply to the redis backend only")
	}
	if d.Backend != BackendMemory && d.Persist != "" {
		return errors.New("dedupe persist applies to the memory backend only")
	}
	if d.PersistInterval != 0 && d.Persist == "" {
		return errors.New("dedupe persist_interval needs persist")
	}
	if r := d.Redis; r != nil {
		if r.Timeout < 0 {
			return errors.New("dedupe redis timeout must be positive")
		}
		if r.MasterName != "" && len(r.Addresses) == 0 {
			return errors.New("dedupe master_name needs addresses (the Sentinels)")
		}
	}
	return nil
}
