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
