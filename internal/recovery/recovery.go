// Package recovery keeps a panic in a background goroutine (a sender
// worker, a purge or probe loop, a snapshot ticker, a user's callback) from
// taking down the whole process, and with it every site Caddy serves: the
// panic is logged with its stack, counted in scgate_panics_total, and the
// loop goes on with its next round. Caddy's own health checker and metrics
// loops do the same.
package recovery

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Panics counts the panics recovered, by the goroutine that had them. It is
// created once per process; the Caddy modules register it in each config's
// registry.
var Panics = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "scgate_panics_total",
	Help: "Panics recovered in scgate's background work, by where they happened; each one is a bug (the log has its stack).",
}, []string{"where"})

// Do runs fn and reports whether it panicked. A panic is logged at error
// level with its stack and counted under where; it does not go further.
func Do(log *zap.Logger, where string, fn func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			report(log, where, r)
		}
	}()
	fn()
	return false
}

// restartAfter is how long Loop waits before it runs a loop that panicked
// again. A variable for tests.
var restartAfter = time.Second

// Loop runs fn(ctx), the main loop of some background work (a sender's or
// an inbox's Run), until it returns. A panic in it is reported as Do does,
// and fn runs again after a second, unless ctx has ended: a bug must not
// end the deliveries until the next restart. It returns fn's error, or nil
// when ctx ended after a panic.
func Loop(ctx context.Context, log *zap.Logger, where string, fn func(context.Context) error) error {
	for {
		var err error
		if !Do(log, where, func() { err = fn(ctx) }) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(restartAfter):
		}
	}
}

// Recover, deferred at the top of a goroutine, stops a panic there the
// same way as Do: `defer recovery.Recover(log, "where")`.
func Recover(log *zap.Logger, where string) {
	if r := recover(); r != nil {
		report(log, where, r)
	}
}

func report(log *zap.Logger, where string, r any) {
	Panics.WithLabelValues(where).Inc()
	if log == nil {
		return
	}
	log.Error("recovered from a panic; this is a bug, please report it with this log line",
		zap.String("reason", "panic"), zap.String("where", where),
		zap.String("panic", fmt.Sprint(r)), zap.ByteString("stack", debug.Stack()))
}
