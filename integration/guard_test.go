package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const guardSelfTestEnv = "SCGATE_INTEGRATION_GUARD_SELFTEST"

// TestSkippedCaddytestIsAFailure runs this test binary again with only
// TestGuardedSkipSelfTest, which skips after newTester: the run must fail
// with the guard's message. Without this, a broken guard would let every
// caddytest test pass silently again.
func TestSkippedCaddytestIsAFailure(t *testing.T) {
	// Not os.Args[0]: caddytest rewrites os.Args to start its Caddy.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestGuardedSkipSelfTest$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), guardSelfTestEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a skipped guarded test passed:\n%s", out)
	}
	if !strings.Contains(string(out), "an integration test that does not run must not pass") || !strings.Contains(string(out), "--- FAIL: TestGuardedSkipSelfTest") {
		t.Fatalf("the run failed (%v), but not through the guard:\n%s", err, out)
	}
}

// TestGuardedSkipSelfTest does nothing unless run by
// TestSkippedCaddytestIsAFailure.
func TestGuardedSkipSelfTest(t *testing.T) {
	if os.Getenv(guardSelfTestEnv) == "" {
		return
	}
	newTester(t)
	t.Skip("skipping as caddytest does when it cannot find its certificates")
}
