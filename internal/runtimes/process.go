package runtimes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

// Process is a long-lived interpreter running a script that answers every
// line it reads on stdin with exactly one line on stdout, in order. Calls
// may come from several goroutines; they are served one at a time.
type Process struct {
	rt     Runtime
	stdin  io.WriteCloser
	in     *bufio.Writer
	out    *bufio.Reader
	stderr *syncBuffer

	mu     sync.Mutex
	broken error
}

// Start starts script with rt. The process is stopped when tb ends.
func Start(tb testing.TB, rt Runtime, script string) *Process {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := rt.Command(ctx, script)
	p := &Process{rt: rt, stderr: new(syncBuffer)}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatalf("runtimes: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("runtimes: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("runtimes: starting %s: %v", rt, err)
	}
	p.in = bufio.NewWriterSize(p.stdin, 64<<10)
	p.out = bufio.NewReaderSize(stdout, 64<<10)
	tb.Cleanup(func() {
		_ = p.stdin.Close()
		cancel()
		_ = cmd.Wait()
	})
	return p
}

// Call sends one request line (without its newline) and returns the answer
// line (without its newline).
func (p *Process) Call(req []byte) ([]byte, error) {
	answers, err := p.CallAll([][]byte{req})
	if err != nil {
		return nil, err
	}
	return answers[0], nil
}

// CallAll sends every request and returns the answers in order. Requests are
// written while answers are read, so thousands take one round trip's latency
// plus the runtime's work.
func (p *Process) CallAll(reqs [][]byte) ([][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != nil {
		return nil, p.broken
	}
	for _, r := range reqs {
		if bytes.IndexByte(r, '\n') >= 0 {
			return nil, errors.New("runtimes: request holds a newline")
		}
	}
	written := make(chan error, 1)
	go func() {
		for _, r := range reqs {
			p.in.Write(r)
			p.in.WriteByte('\n')
		}
		written <- p.in.Flush()
	}()
	answers := make([][]byte, 0, len(reqs))
	var readErr error
	for range reqs {
		line, err := p.out.ReadBytes('\n')
		if err != nil {
			readErr = fmt.Errorf("runtimes: %s stopped answering: %v; stderr:\n%s", p.rt, err, p.stderr.String())
			// Unblock the writer if it is stuck on a full pipe.
			_ = p.stdin.Close()
			break
		}
		answers = append(answers, line[:len(line)-1])
	}
	if err := <-written; err != nil && readErr == nil {
		readErr = fmt.Errorf("runtimes: writing to %s: %v", p.rt, err)
	}
	if readErr != nil {
		p.broken = readErr
		return nil, readErr
	}
	return answers, nil
}

// syncBuffer collects the process's stderr, written by exec's copying
// goroutine and read when the process fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
