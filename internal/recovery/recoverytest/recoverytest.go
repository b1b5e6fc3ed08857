// Package recoverytest makes background loops panic on purpose: a logger
// that panics when a chosen message is logged, so a test can put a panic
// in any loop that logs, without a hook in the code under test.
package recoverytest

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// PanicOn returns a logger (at debug level, writing nowhere) that panics
// the first times calls to log message, then logs it normally. Panics
// reports how many it made.
func PanicOn(message string, times int) (*zap.Logger, *atomic.Int32) {
	var made atomic.Int32
	hook := func(e zapcore.Entry) error {
		if e.Message != message {
			return nil
		}
		for n := made.Load(); n < int32(times); n = made.Load() {
			if made.CompareAndSwap(n, n+1) {
				panic("recoverytest: planned panic on " + message)
			}
		}
		return nil
	}
	// A nop core is never asked to write, so hooks would not run: use a
	// real core at debug level into a discarding sink.
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	real := zapcore.NewCore(enc, zapcore.AddSync(discard{}), zapcore.DebugLevel)
	return zap.New(zapcore.RegisterHooks(real, hook)), &made
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
