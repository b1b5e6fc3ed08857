package screenshotcenterwebhook

import (
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/scgate/scgate/caddymodule/internal/placeholder"
	"github.com/scgate/scgate/dedupe"
)

// stores holds dedupe stores and Redis clients across config reloads: a
// reload provisions the new config (taking a reference) before the old
// one's Cleanup drops its own, so the store and everything it remembers live
// on. A value is destructed (closed, its snapshot written) when its last
// reference goes.
var stores = caddy.NewUsagePool()

// memoryPoolKey names the process-wide memory store. Every handler using the
// memory backend shares it; keys carry the namespace, event name and id, so
// events of different handlers do not mix. A memory store with a snapshot
// file is keyed by the file instead.
const memoryPoolKey = "memory"

// pooledStore adapts a dedupe.Store to caddy.Destructor. A memory store is
// in the scgate_dedupe_keys gauge while it lives.
type pooledStore struct {
	dedupe.Store
	name string
}

func (p pooledStore) Destruct() error {
	memoryKeys.remove(p.name)
	if rs, ok := p.Store.(*dedupe.RedisStore); ok {
		if next := liveRedis.remove(rs); next != nil {
			if n := rs.HandOver(next); n > 0 {
				caddy.Log().Named("dedupe").Info("queued dedupe commits handed to the store of the new config",
					zap.Int("commits", n))
			}
		}
	}
	return p.Close()
}

// liveRedis lists the Redis stores in the pool, oldest first. A reload that
// changes the Redis settings makes a new store before the old config's
// cleanup closes the old one: the old one hands its queued commits to the
// newest store left, instead of dropping them.
var liveRedis redisList

type redisList struct {
	mu     sync.Mutex
	stores []*dedupe.RedisStore
}

func (l *redisList) add(s *dedupe.RedisStore) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stores = append(l.stores, s)
}

// remove takes s off the list and returns the newest store left (nil: none).
func (l *redisList) remove(s *dedupe.RedisStore) *dedupe.RedisStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stores = slices.DeleteFunc(l.stores, func(x *dedupe.RedisStore) bool { return x == s })
	if len(l.stores) == 0 {
		return nil
	}
	return l.stores[len(l.stores)-1]
}

// openStore gets the store of the handler's dedupe backend from the pool,
// creating it on first use (Provision has set the defaults). It contacts
// no Redis server and opens no snapshot: App.Start starts the store.
func (h *Handler) openStore() error {
	d := h.Dedupe
	var err error
	switch d.Backend {
	case BackendMemory:
		var persist string
		if persist, err = placeholder.Field("dedupe persist", d.Persist); err != nil {
			return err
		}
		h.store, h.poolKey, err = loadMemoryStore(d.MaxKeys, persist, time.Duration(d.PersistInterval), h.logger)
	case BackendRedis:
		h.store, h.poolKey, err = loadRedisStore(d.Redis, h.logger)
	}
	return err
}

// loadMemoryStore returns the shared memory store (the one of persist, if
// set), creating it with maxKeys on first use. A store that already exists
// keeps its bound until the config starts (App.Start), so a config that
// fails to load cannot change the running one's. The persist interval is
// the one of the config that created the store. The snapshot is loaded
// when the first config using it starts (App.Start).
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
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		if persist != "" {
			s := dedupe.NewPersistedStore(maxKeys, persist, interval, logger)
			memoryKeys.add(key, s.MemoryStore)
			return pooledStore{s, key}, nil
		}
		s := dedupe.NewMemoryStore(maxKeys)
		memoryKeys.add(key, s)
		return pooledStore{s, key}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledStore).Store, key, nil
}

// loadRedisStore returns the shared store of d's settings, creating it on
// first use. It contacts nothing: the store connects in the background
// once a config using it starts (App.Start), and logs a warning if the
// server does not answer, so `caddy validate` touches no server and a start
// with Redis down does not block.
func loadRedisStore(d *RedisConfig, logger *zap.Logger) (dedupe.Store, string, error) {
	o, err := resolveRedisOptions(d, logger.With(zap.String("dedupe_backend", BackendRedis)))
	if err != nil {
		return nil, "", err
	}
	if err := o.Check(); err != nil {
		return nil, "", err
	}
	key := redisPoolKey(o)
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := dedupe.NewRedisStore(o)
		if err != nil {
			return nil, err
		}
		liveRedis.add(s)
		return pooledStore{s, key}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(pooledStore).Store, key, nil
}

// memoryStore is the memory store behind s, or nil.
func memoryStore(s dedupe.Store) *dedupe.MemoryStore {
	switch s := s.(type) {
	case *dedupe.MemoryStore:
		return s
	case *dedupe.PersistedStore:
		return s.MemoryStore
	}
	return nil
}
