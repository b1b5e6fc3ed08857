package redistest_test

import (
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/redistest"
)

func TestServerStopRestart(t *testing.T) {
	s := redistest.Start(t)
	if r, err := s.Do("SET", "k", "v"); err != nil || r != "+OK" {
		t.Fatalf("SET: %q %v", r, err)
	}
	if r, err := s.Do("CONFIG", "GET", "save"); err != nil || strings.HasPrefix(r, "-") {
		t.Fatalf("CONFIG GET: %q %v", r, err)
	}
	s.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	port := s.Port()
	s.Restart()
	if s.Port() != port {
		t.Fatalf("restarted on port %d, want %d", s.Port(), port)
	}
	// Nothing persisted: the key is gone.
	if r, err := s.Do("GET", "k"); err != nil || r != "$-1" {
		t.Fatalf("GET after restart: %q %v, want nil", r, err)
	}
	s.Stop()
	s.Stop() // idempotent
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	if len(c.Addrs()) != 3 {
		t.Fatalf("addrs = %v", c.Addrs())
	}
	for _, n := range c.Nodes {
		info, err := n.Do("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("CLUSTER INFO on %s: %v\n%s", n.Addr(), err, info)
		}
	}
}

func TestSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 3, Replicas: 1})
	if len(s.Addrs()) != 3 || len(s.Replicas) != 1 {
		t.Fatalf("sentinels %v, replicas %d", s.Addrs(), len(s.Replicas))
	}
	for _, n := range s.Sentinels {
		if addr, err := s.MasterAddr(n); err != nil || addr != s.Master.Addr() {
			t.Fatalf("sentinel %s reports master %q (%v), want %s", n.Addr(), addr, err, s.Master.Addr())
		}
		// A Sentinel, not a data server.
		if r, err := n.Do("SET", "k", "v"); err != nil || !strings.HasPrefix(r, "-") {
			t.Fatalf("SET on sentinel %s: %q %v, want an error", n.Addr(), r, err)
		}
	}
	if r, err := s.Master.Do("SET", "k", "v"); err != nil || r != "+OK" {
		t.Fatalf("SET on the master: %q %v", r, err)
	}
	s.WaitReplicated()
	if r, err := s.Replicas[0].Do("GET", "k"); err != nil || r != "v" {
		t.Fatalf("GET on the replica: %q %v, want v", r, err)
	}
	// Array replies come back one element a line.
	if r, err := s.Master.Do("KEYS", "*"); err != nil || r != "k" {
		t.Fatalf("KEYS: %q %v", r, err)
	}
}
