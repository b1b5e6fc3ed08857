package sender

import "testing"

// SetCheckHook makes every consistency check run f as it starts, until
// the test ends.
func SetCheckHook(t *testing.T, f func()) {
	checkHook = f
	t.Cleanup(func() { checkHook = nil })
}
