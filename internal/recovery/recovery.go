// Package recovery keeps a panic in a background goroutine (a sender
// worker, a purge or probe loop, a snapshot ticker, a user's callback) from
// taking down the whole process, and with it every site Caddy serves: the
// panic is logged with its stack, counted in scgate_panics_total, and the
// loop goes on with its next round. Caddy's own health checker and metrics
// loops do the same.
package recovery

import (
	"fmt"
	"runtime/debug"

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
