// Package redistest starts private, throw-away Redis servers for tests and
// benchmarks: a single server, a three-node Redis Cluster, or a master (with
// replicas) watched by Sentinels, each on free ports, with persistence off,
// in a temporary directory, killed when the test ends.
//
// The redis-server and redis-cli binaries must be on PATH (CI installs
// them). Their absence fails the test with a clear message: it never skips,
// so a missing binary cannot turn the Redis tests into a silent pass.
//
// Tests must never use the machine's shared Redis (127.0.0.1:6379): they use
// these private servers, or REDIS_URL (single server only, see URL) with a
// key prefix of their own.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/freeport"
	"github.com/scgate/scgate/internal/testproc"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Server is one private redis-server process.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	pre  []string // before the common flags: a config file, --sentinel
	args []string

	proc testproc.Slot
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// binary finds name on PATH or fails tb.
func binary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Fatalf("redistest: %s not found on PATH (%v): install Redis (e.g. apt-get install redis-server) to run these tests; they are never skipped", name, err)
	}
	return p
}

// URL returns REDIS_URL when it is set, else starts a private server and
// returns its URL. Tests using it must prefix their keys uniquely, since an
// external server may be shared.
func URL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return Start(tb).URL()
}

// Start starts a private redis-server on a free port. It is stopped and its
// directory removed when tb ends.
func Start(tb testing.TB, extraArgs ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: binary(tb, "redis-server"), dir: tb.TempDir(), args: extraArgs}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort(false)
		if err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() error {
	args := append(append(append([]string(nil), s.pre...),
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "no",
	), s.args...)
	p, err := testproc.Start(s.bin, args, startTimeout, func() error {
		reply, err := do(s.Addr(), "PING")
		if err == nil && reply != "+PONG" {
			err = fmt.Errorf("PING answered %q", reply)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("redis-server on port %d: %v", s.port, err)
	}
	s.proc.Set(p)
	return nil
}

// Stop kills the server. It is safe to call more than once.
func (s *Server) Stop() { s.proc.Kill(s.Addr(), startTimeout) }

// Pause freezes the server (SIGSTOP): it keeps its port and connections
// and accepts new ones, but answers nothing, like a hung or unreachable
// server. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.tb.Helper()
	p := s.proc.Get()
	if p == nil {
		s.tb.Fatalf("redistest: signal %v to a stopped server", sig)
	}
	if err := p.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Restart starts a stopped server again on the same port, empty (nothing is
// persisted). It fails the test if the port cannot be had again.
func (s *Server) Restart() {
	s.tb.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redistest: restart: %v", err)
}

// Do sends one command and returns its reply (for test setup and checks
// only): a status, error or integer line as is ("+OK", "-ERR ...", ":3"), a
// bulk string's content ("$-1" for nil), an array's elements one a line.
func (s *Server) Do(args ...string) (string, error) {
	return do(s.Addr(), args...)
}

// ConnectionsReceived is the server's total_connections_received, which
// counts the connection that asks for it: when nothing else connected
// between two calls, the second is one more than the first.
func (s *Server) ConnectionsReceived() (int64, error) {
	return s.info("stats", "total_connections_received")
}

// CPU is the CPU time the server has used (used_cpu_user + used_cpu_sys):
// the difference over a run is the server's cost of that run.
func (s *Server) CPU() (time.Duration, error) {
	info, err := s.Do("INFO", "cpu")
	if err != nil {
		return 0, err
	}
	var total float64
	found := 0
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		for _, field := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, field); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, err
				}
				total += f
				found++
			}
		}
	}
	if found != 2 {
		return 0, fmt.Errorf("no used_cpu_user and used_cpu_sys in INFO cpu:\n%s", info)
	}
	return time.Duration(total * float64(time.Second)), nil
}

// info reads an integer field of an INFO section.
func (s *Server) info(section, field string) (int64, error) {
	info, err := s.Do("INFO", section)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in INFO %s:\n%s", field, section, info)
}

// Cluster is a three-node Redis Cluster with no replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the host:port of every node, usable as seed addresses.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr()
	}
	return a
}

// StartCluster starts three cluster-enabled servers, joins them with
// `redis-cli --cluster create` and waits until the cluster state is ok.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	cli := binary(tb, "redis-cli")
	binary(tb, "redis-server")
	c := new(Cluster)
	for i := 0; i < 3; i++ {
		s := &Server{tb: tb, bin: binary(tb, "redis-server"), dir: tb.TempDir()}
		s.args = []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "5000",
		}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			// The cluster bus listens on port+10000: it must be free too.
			s.port, err = freePort(true)
			if err != nil {
				continue
			}
			if err = s.start(); err == nil {
				break
			}
		}
		if err != nil {
			tb.Fatalf("redistest: cluster node %d: %v", i, err)
		}
		tb.Cleanup(s.Stop)
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	err = eventually.Within(30*time.Second, func() error {
		for _, n := range c.Nodes {
			if info, err := n.Do("CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("node %s: cluster state not ok (%v)", n.Addr(), err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("redistest: %v after 30s\n%s", err, out)
	}
	return c

}

// freePort returns a TCP port free a moment ago (and, with bus, port+10000
// too), below the ephemeral range (see freeport). Another process may take
// it before it is used: callers retry.
func freePort(bus bool) (int, error) {
	span := 0
	if bus {
		span = 10000
	}
	return freeport.Pick(span)
}

// do sends one RESP command and returns its reply as Server.Do describes.
func do(addr string, args ...string) (string, error) {
	parts, err := doParts(addr, args...)
	return strings.Join(parts, "\n"), err
}

// doParts sends one RESP command and returns its reply: one element for a
// status, error, integer or bulk string, an array's elements (nested arrays
// flattened) for an array.
func doParts(addr string, args ...string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c), nil)
}

// readReply reads one RESP2 reply and appends it to parts.
func readReply(r *bufio.Reader, parts []string) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return parts, err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if n == -1 {
			return append(parts, line), nil // nil bulk string
		}
		if err != nil || n < 0 {
			return parts, fmt.Errorf("unexpected reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return parts, err
		}
		return append(parts, string(buf[:n])), nil
	case strings.HasPrefix(line, "*"):
		n, err := strconv.Atoi(line[1:])
		if n == -1 {
			return append(parts, line), nil // nil array
		}
		if err != nil || n < 0 {
			return parts, fmt.Errorf("unexpected reply %q", line)
		}
		for i := 0; i < n; i++ {
			if parts, err = readReply(r, parts); err != nil {
				return parts, err
			}
		}
		return parts, nil
	}
	return append(parts, line), nil
}
