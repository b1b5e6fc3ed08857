package main

import (
	"os"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// The tests run the built binary (gatewaytest.Binary: $SCGATE_TEST_BINARY,
// or one built for this test process), as users run it.
func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}
