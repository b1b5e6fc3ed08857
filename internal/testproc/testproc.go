// Package testproc runs the throw-away server processes of the test
// helpers (internal/redistest's redis-server, internal/natstest's
// nats-server): one process on a loopback port, its output kept for the
// error of a failed start, killed with SIGKILL (as in a crash) and
// started again on the same port. A Slot holds a server's current
// process, none while it is stopped.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// Proc is one running server process.
type Proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs bin with args and waits up to timeout until ready returns
// nil. If the process exits first, or ready still fails at the timeout,
// the process is killed and the error says why, with its output.
func Start(bin string, args []string, timeout time.Duration, ready func() error) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", bin, err)
	}
	p := &Proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	err := eventually.Within(timeout, func() error {
		select {
		case <-p.exited:
			return eventually.Stop(errors.New("exited before it was ready"))
		default:
		}
		return ready()
	})
	if err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		return nil, fmt.Errorf("%v; output:\n%s", err, log.String())
	}
	return p, nil
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Slot holds a server's current process.
type Slot struct {
	mu sync.Mutex
	p  *Proc
}

// Set makes p the current process.
func (s *Slot) Set(p *Proc) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

// Get returns the current process, nil while the server is stopped.
func (s *Slot) Get() *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// Kill kills the current process, if any (SIGKILL: what it has not
// written is lost, as in a crash), waits for it to exit and then until
// nothing accepts connections on addr, for up to timeout. Safe to call
// more than once.
func (s *Slot) Kill(addr string, timeout time.Duration) {
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	_ = eventually.Within(timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		return errors.New("still listening")
	})
}

// syncBuffer is the process's output, written by its copier goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
