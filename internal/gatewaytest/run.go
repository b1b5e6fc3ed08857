package gatewaytest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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

// Process is the scgate binary running a command in the background, such
// as `scgate events --follow`.
type Process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Spawn starts the scgate binary with args, with env ("NAME=value") added
// to the test's environment; it fails tb if the binary cannot start. The
// process is killed when the test ends if it is still running.
func Spawn(tb testing.TB, env []string, args ...string) *Process {
	tb.Helper()
	p := &Process{cmd: exec.Command(Binary(tb), args...), out: new(syncBuffer), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("gatewaytest: starting scgate %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for status 0), or an error if it is still running.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("scgate %s still running after %v", strings.Join(p.cmd.Args[1:], " "), timeout)
	}
}
