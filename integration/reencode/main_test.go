// Package reencode_test proves issue 10 end to end: handlers that verify the
// signature over their runtime's re-serialisation of the body (the vendor's
// Express sample, a Flask-style Python handler, a PHP handler), run
// unchanged from examples/ with real node, python3 and php behind the built
// scgate binary, accept every valid event with `reencode` and reject most of
// them without it; raw-bytes verifiers keep receiving the signed bytes.
//
// Nothing here is skipped: a missing node, npm, python3 or php, or an npm
// install that fails, fails the tests (CI installs them).
package reencode_test

import (
	"os"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}
