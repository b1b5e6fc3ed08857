package dedupe

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/internal/recovery"
)

// PersistedStore is a MemoryStore saved to a snapshot file: loaded when it
// is created, written every interval while something was committed since
// the last write, and once more when it is closed.
type PersistedStore struct {
	*MemoryStore
	path   string
	logger *zap.Logger
	stop   chan struct{}
	done   chan struct{}
	// mu serializes saves: the ticker's and the final one.
	mu        sync.Mutex
	closed    bool
	saved     uint64 // Commits() at the last write
	closeOnce sync.Once
}

// NewPersistedStore returns a memory store bounded by maxKeys with the
// delivered keys of the snapshot at path, and starts writing it back every
// interval. A missing snapshot is a first start: the store starts empty. A
// snapshot that cannot be loaded, damaged (empty, truncated, garbage: it
// fails its format or checksum) or unreadable, is an error that names the
// file and what to do, and the file is left as it is: starting empty
// instead would forget every delivered key without a word, and the next
// save would destroy what is left of them.
func NewPersistedStore(maxKeys int, path string, interval time.Duration, logger *zap.Logger) (*PersistedStore, error) {
	p := &PersistedStore{
		MemoryStore: NewMemoryStore(maxKeys),
		path:        path,
		logger:      logger.With(zap.String("persist", path)),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	n, err := p.LoadSnapshot(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.logger.Info("no dedupe snapshot yet; starting empty")
	case err != nil:
		p.MemoryStore.Close()
		return nil, snapshotError(path, err)
	default:
		p.logger.Info("dedupe snapshot loaded", zap.Int("keys", n))
	}
	go p.loop(interval)
	return p, nil
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

func (p *PersistedStore) loop(interval time.Duration) {
	defer close(p.done)
	t := time.NewTicker(interval)
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
	if p.closed {
		return
	}
	// Nothing new since the last write (or since loading): leave the file
	// alone. This also keeps `caddy validate`, which provisions and
	// closes a store without serving, from rewriting the snapshot of a
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

// Close stops the ticker, writes a last snapshot and closes the store.
// It is safe to call more than once.
func (p *PersistedStore) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		<-p.done
		p.save()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
	})
	return p.MemoryStore.Close()
}
