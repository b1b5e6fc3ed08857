// Package integration tests the screenshotcenter_webhook handler in a real
// Caddy (caddytest, in this process) in front of real upstream servers on
// loopback, and the scgate binary through internal/gatewaytest.
//
// The tests refuse to be skipped: caddytest skips silently under -short and
// when the package was built with -trimpath, which would make the package
// report ok without testing anything. TestMain fails under -short, and
// every caddytest-based test fails if caddytest skipped it.
package integration

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/scgate/scgate"
	"github.com/scgate/scgate/internal/caddyhome"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// Ports of the in-process Caddy, chosen free once per test process so that
// a concurrent run elsewhere on the machine (another caddytest package on the
// default admin port 2999) does not receive these configs.
var httpPort, httpsPort, adminPort int

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "FAIL: the integration tests do not run with -short (caddytest would skip them and report ok)")
		os.Exit(1)
	}
	// Keep the in-process Caddy's storage (locks, certificates) and
	// autosave.json out of the user's home directory.
	cleanup, err := caddyhome.Isolate()
	if err != nil {
		panic(err)
	}
	httpPort = gatewaytest.FreePort(tb{})
	httpsPort = gatewaytest.FreePort(tb{})
	adminPort = gatewaytest.FreePort(tb{})
	code := m.Run()
	gatewaytest.Cleanup()
	cleanup()
	os.Exit(code)
}

// tb lets TestMain use helpers that take a testing.TB; it panics on failure.
type tb struct{ testing.TB }

func (tb) Helper()                           {}
func (tb) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// newTester returns a caddytest.Tester for this process's Caddy that turns a
// skip into a failure.
func newTester(t *testing.T) *caddytest.Tester {
	t.Helper()
	t.Cleanup(func() {
		if t.Skipped() {
			t.Error("caddytest skipped this test (run with -short, or built with -trimpath so it cannot find its certificates?): an integration test that does not run must not pass")
		}
	})
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
}
