package screenshotcenterwebhook

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/scgate/scgate/inbox"
	"github.com/scgate/scgate/sender"
)

// inboxBackend is the engine behind a pooled inbox: it names it and opens
// it. One pooled inbox per key in the process.
type inboxBackend interface {
	// key names the engine in the pool: a bbolt file by its path, a
	// JetStream inbox by its server, streams and connection settings.
	key() string
	// name is the store as the admin API, the CLI and errors show it:
	// never a secret.
	name() string
	// heals reports whether an engine that cannot be opened is tried
	// again in the background (a network server, which comes back)
	// instead of failing the config's start (a file).
	heals() bool
	// open opens the engine with st, the hooks of the pooled inbox and
	// logger.
	open(st inbox.Settings, hooks inboxHooks, logger *zap.Logger) (inbox.Engine, error)
}

// inboxHooks are the pooled inbox's observers of the engine's attempts.
type inboxHooks struct {
	onAttempt func(*inbox.Entry, inbox.Attempt)
	onSettled func(*inbox.Entry, time.Duration)
}

// boltInbox is the bbolt inbox file at path (absolute): one process per
// file.
type boltInbox struct{ path string }

func (b boltInbox) key() string  { return b.path }
func (b boltInbox) name() string { return b.path }
func (boltInbox) heals() bool    { return false }

func (b boltInbox) open(st inbox.Settings, hooks inboxHooks, logger *zap.Logger) (inbox.Engine, error) {
	in, err := inbox.Open(b.path, inbox.Options{
		Settings:    st,
		Logger:      logger,
		LockTimeout: inboxLockTimeout,
		OnAttempt:   hooks.onAttempt,
		OnSettled:   hooks.onSettled,
	})
	switch {
	case errors.Is(err, inbox.ErrStoreLocked):
		return nil, fmt.Errorf("inbox %s is locked by another process (one inbox file per gateway process; give each its own store): %w", b.path, err)
	case err != nil:
		return nil, fmt.Errorf("opening the inbox: %w", err)
	}
	return in, nil
}

// engineSender returns the sender an engine runs on, for the dashboard:
// the bbolt inbox's; nil for an engine that has none.
func engineSender(e inbox.Engine) *sender.Sender {
	if in, ok := e.(interface{ Sender() *sender.Sender }); ok {
		return in.Sender()
	}
	return nil
}
