package gatewaytest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Run runs the scgate binary (see Binary) with args to completion, with env
// ("NAME=value") added to the test's environment, and returns its stdout, its
// stderr and its exit code. It fails tb only if the binary cannot be run.
func Run(tb testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := exec.Command(Binary(tb), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("gatewaytest: running scgate %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}
