package caddymodule

import (
	"github.com/caddyserver/caddy/v2"

	"github.com/scgate/scgate/dedupe"
)

// stores holds dedupe stores across config reloads: a reload provisions the
// new config (taking a reference) before the old one's Cleanup drops its
// own, so the store and everything it remembers live on. A store is closed
// when its last reference goes.
var stores = caddy.NewUsagePool()

// pooledStore adapts a dedupe.Store to caddy.Destructor.
type pooledStore struct{ dedupe.Store }

func (p pooledStore) Destruct() error { return p.Close() }

// memoryPoolKey names the process-wide memory store. Every handler using the
// memory backend shares it; keys carry the event name and id, so events of
// different handlers do not mix unless they are the same event.
const memoryPoolKey = "memory"

// loadMemoryStore returns the shared memory store, creating it on first use,
// and applies maxKeys to it (the last loaded config wins).
func loadMemoryStore(maxKeys int) (dedupe.Store, string, error) {
	v, _, err := stores.LoadOrNew(memoryPoolKey, func() (caddy.Destructor, error) {
		return pooledStore{dedupe.NewMemoryStore(maxKeys)}, nil
	})
	if err != nil {
		return nil, "", err
	}
	ps := v.(pooledStore)
	ps.Store.(*dedupe.MemoryStore).SetMaxKeys(maxKeys)
	return ps.Store, memoryPoolKey, nil
}
