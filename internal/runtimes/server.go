package runtimes

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// Server settings.
const (
	// ServerReadyTimeout bounds the wait for a server's port to accept
	// connections.
	ServerReadyTimeout = 30 * time.Second
	// ServerStopTimeout is how long a server gets after SIGTERM before it
	// is killed.
	ServerStopTimeout = 5 * time.Second
)

// ServerOptions describe an HTTP server run by a runtime, such as an
// example webhook handler.
type ServerOptions struct {
	// Addr is the "127.0.0.1:<port>" the server listens on (the caller
	// passes it to the server in Args or Env); StartServer waits for it.
	Addr string
	// Dir is the working directory.
	Dir string
	// Args come after the runtime's own flags: a script file and its
	// arguments, or e.g. "-S", addr, "index.php" for PHP.
	Args []string
	// Env is added to the inherited environment ("NAME=value").
	Env []string
}

// Server is a running server process. Its stdout and stderr are collected
// in Output and written to the test log if the test failed.
type Server struct {
	// URL is "http://" + Addr.
	URL  string
	Addr string

	rt      Runtime
	cmd     *exec.Cmd
	out     *syncBuffer
	done    chan struct{}
	waitErr error
}

// StartServer runs a server with rt and waits until its address accepts
// connections; it fails tb if the server exits or does not listen within
// ServerReadyTimeout. The server is stopped when the test ends.
func StartServer(tb testing.TB, rt Runtime, opts ServerOptions) *Server {
	tb.Helper()
	s := &Server{URL: "http://" + opts.Addr, Addr: opts.Addr, rt: rt, out: new(syncBuffer), done: make(chan struct{})}
	s.cmd = rt.Exec(context.Background(), opts.Args...)
	s.cmd.Dir = opts.Dir
	s.cmd.Env = append(s.cmd.Env, opts.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("runtimes: starting %s %s: %v", rt, strings.Join(opts.Args, " "), err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		s.stop(tb)
		if tb.Failed() {
			tb.Logf("runtimes: output of %s server on %s:\n%s", rt.Name, s.Addr, s.Output())
		}
	})
	err := eventually.Within(ServerReadyTimeout, func() error {
		if !s.running() {
			return eventually.Stop(fmt.Errorf("exited (%v)", s.waitErr))
		}
		c, err := net.DialTimeout("tcp", opts.Addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		tb.Fatalf("runtimes: %s server on %s did not start: %v\n--- output ---\n%s", rt, opts.Addr, err, s.Output())
	}
	return s
}

// Output returns everything the server wrote to stdout and stderr so far.
func (s *Server) Output() string { return s.out.String() }

func (s *Server) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop ends the server: SIGTERM, then SIGKILL after ServerStopTimeout.
func (s *Server) stop(tb testing.TB) {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(ServerStopTimeout):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	tb.Logf("runtimes: %s server on %s ignored SIGTERM and was killed", s.rt.Name, s.Addr)
}

// Exec returns a command that runs the runtime with its own flags followed
// by args (a script file, or a mode such as PHP's -S), with the inherited
// environment.
func (rt Runtime) Exec(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string(nil), rt.flags...), args...)
	cmd := exec.CommandContext(ctx, rt.Path, argv...)
	cmd.Env = os.Environ()
	return cmd
}
