// Package natstest starts private, throw-away NATS servers with JetStream
// for tests and benchmarks: one nats-server -js on a free loopback port,
// with its file store in a temporary directory, killed when the test ends.
// Restart starts it again on the same port and store, so that a test sees
// what the file store kept.
//
// The nats-server binary must be on PATH or at /usr/sbin/nats-server
// (Debian's package, which CI installs). Its absence fails the test with a
// clear message: it never skips, so a missing binary cannot turn the NATS
// tests into a silent pass.
//
// Tests must never use the machine's shared server (127.0.0.1:4222).
package natstest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/freeport"
	"github.com/scgate/scgate/internal/testproc"
)

// startTimeout bounds how long a server may take to greet a client.
const startTimeout = 15 * time.Second

// Server is one private nats-server process.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int

	proc testproc.Slot
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's nats:// URL.
func (s *Server) URL() string { return "nats://" + s.Addr() }

// StoreDir is the JetStream store directory.
func (s *Server) StoreDir() string { return s.dir }

// binary finds nats-server or fails tb.
func binary(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("nats-server")
	if err == nil {
		return p
	}
	if p, err2 := exec.LookPath("/usr/sbin/nats-server"); err2 == nil {
		return p
	}
	tb.Fatalf("natstest: nats-server not found on PATH or in /usr/sbin (%v): install it (apt-get install nats-server) to run these tests; they are never skipped", err)
	return ""
}

// Start starts a private nats-server -js on a free port. It is killed and
// its store removed when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: binary(tb), dir: tb.TempDir()}
	var err error
	for range 5 {
		if s.port, err = freeport.Pick(0); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	p, err := testproc.Start(s.bin, []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-sd", s.dir}, startTimeout,
		func() error { return greets(s.Addr()) })
	if err != nil {
		return fmt.Errorf("nats-server on port %d: %v", s.port, err)
	}
	s.proc.Set(p)
	return nil
}

// greets reports whether addr sends a NATS INFO line: the server is ready
// for clients, JetStream included.
func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// Stop kills the server (SIGKILL: what it has not written to its store
// is lost, as in a crash) and waits until its port is free. It is safe to
// call more than once.
func (s *Server) Stop() { s.proc.Kill(s.Addr(), startTimeout) }

// Restart starts a stopped server again on the same port with the same
// store. It fails the test if the port cannot be had again.
func (s *Server) Restart() {
	s.tb.Helper()
	err := eventually.Within(startTimeout, s.start)
	if err != nil {
		s.tb.Fatalf("natstest: restart: %v", err)
	}
}
