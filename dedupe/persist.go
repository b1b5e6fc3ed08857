package dedupe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/internal/recovery"
)

// PersistedStore is a MemoryStore saved to a snapshot file: loaded by
// Start, written every interval while something was committed since the
// last write, and once more when it is closed.
type PersistedStore struct {
	*MemoryStore
	path     string
	interval time.Duration
	logger   *zap.Logger
	stop     chan struct{}
	done     chan struct{}
	// loaded is set once Start has loaded the snapshot (or found none);
	// ready is closed when Start has ended, either way, or Close has run.
	loaded    atomic.Bool
	ready     chan struct{}
	readyOnce sync.Once
	startOnce sync.Once
	startErr  error
	// mu serializes saves: the ticker's and the final one.
	mu        sync.Mutex
	closed    bool
	saved     uint64 // Commits() at the last write
	closeOnce sync.Once
}

// startWait bounds how long a claim made before Start waits for the
// snapshot to load.
const startWait = 10 * time.Second

// errNotLoaded is the answer to a claim while the snapshot is not loaded.
var errNotLoaded = fmt.Errorf("%w: its snapshot is not loaded", ErrUnavailable)

// NewPersistedStore returns a memory store bounded by maxKeys, to hold
// the delivered keys of the snapshot at path and write them back every
// interval. It opens no file and starts nothing: Start does, so that a
// config that is only validated, or rejected, never reads the snapshot.
func NewPersistedStore(maxKeys int, path string, interval time.Duration, logger *zap.Logger) *PersistedStore {
	return &PersistedStore{
		MemoryStore: NewMemoryStore(maxKeys),
		path:        path,
		interval:    interval,
		logger:      logger.With(zap.String("persist", path)),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		ready:       make(chan struct{}),
	}
}

// Start loads the snapshot and starts writing it back every interval. A
// missing snapshot is a first start: the store starts empty. A snapshot
// that cannot be loaded, damaged (empty, truncated, garbage: it fails its
// format or checksum) or unreadable, is an error that names the file and
// what to do, and the file is left as it is: starting empty instead would
// forget every delivered key without a word, and the next save would
// destroy what is left of them. The store then answers every claim with
// ErrUnavailable and never writes the file. Start runs once: a later call
// returns the first one's result. After Close it loads nothing.
func (p *PersistedStore) Start() error {
	p.startOnce.Do(func() {
		defer p.readyOnce.Do(func() { close(p.ready) })
		n, err := p.LoadSnapshot(p.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.logger.Info("no dedupe snapshot yet; starting empty")
		case err != nil:
			p.startErr = snapshotError(p.path, err)
			close(p.done) // no loop
			return
		default:
			p.logger.Info("dedupe snapshot loaded", zap.Int("keys", n))
		}
		p.loaded.Store(true)
		go p.loop()
	})
	return p.startErr
}

// Claim implements Store. A claim made before Start has loaded the
// snapshot waits for it (at most startWait), since the keys it remembers
// decide the answer; while the snapshot is not loaded (Start failed, or
// the store closed) it fails with ErrUnavailable.
func (p *PersistedStore) Claim(ctx context.Context, key string, inflight time.Duration) (State, Token, error) {
	if !p.loaded.Load() {
		t := time.NewTimer(startWait)
		select {
		case <-p.ready:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, 0, ctx.Err()
		}
		t.Stop()
		if !p.loaded.Load() {
			return 0, 0, errNotLoaded
		}
	}
	return p.MemoryStore.Claim(ctx, key, inflight)
}

// snapshotError says what to do about a snapshot that could not be loaded;
// err names the file already.
func snapshotError(path string, err error) error {
	fix := "move it aside"
	if !errors.Is(err, ErrCorruptSnapshot) {
		fix = "make it readable by this process, or move it aside"
	}
	return fmt.Errorf("%w; %s (e.g. mv %s %s.damaged) or delete it to start with an empty memory store (retries of the events it remembered may then be forwarded again)",
		err, fix, path, path)
}

func (p *PersistedStore) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			recovery.Do(p.logger, "dedupe.snapshot", p.save)
		}
	}
}

func (p *PersistedStore) save() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.loaded.Load() {
		return
	}
	// Nothing new since the last write (or since loading): leave the file
	// alone. A store whose snapshot was not loaded never writes it.
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

// Close stops the ticker, writes a last snapshot (if Start loaded one)
// and closes the store. It is safe to call more than once.
func (p *PersistedStore) Close() error {
	p.closeOnce.Do(func() {
		// Not started: no loop to wait for, and none after this.
		p.startOnce.Do(func() {
			p.startErr = errors.New("dedupe store is closed")
			close(p.done)
		})
		p.readyOnce.Do(func() { close(p.ready) })
		close(p.stop)
		<-p.done
		p.save()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
	})
	return p.MemoryStore.Close()
}
