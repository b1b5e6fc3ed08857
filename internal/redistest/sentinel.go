package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// MasterName is the name the Sentinels of StartSentinel monitor.
const MasterName = "scgate-test-master"

// sentinelTimeout bounds each wait on Sentinel: discovering the master and
// its replicas, a replica's initial sync, a failover.
const sentinelTimeout = 30 * time.Second

// SentinelOptions size a Sentinel setup.
type SentinelOptions struct {
	// Sentinels is the number of Sentinel processes (default 1).
	Sentinels int
	// Replicas is the number of replicas of the master (default 0). A
	// failover needs one.
	Replicas int
}

// Sentinel is a private master, its replicas and the Sentinels monitoring
// it as MasterName with quorum 1.
type Sentinel struct {
	tb testing.TB
	// Master is the current master; Failover replaces it.
	Master *Server
	// Replicas are the current replicas of Master.
	Replicas []*Server
	// Sentinels are the Sentinel processes.
	Sentinels []*Server
}

// Addrs are the Sentinels' host:port, for a client's sentinel addresses.
func (s *Sentinel) Addrs() []string {
	a := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		a[i] = n.Addr()
	}
	return a
}

// StartSentinel starts a master, opt.Replicas replicas of it and
// opt.Sentinels Sentinels (`redis-server <conf> --sentinel`), and waits until
// every Sentinel reports the master by name, is connected to it and knows
// every replica. Everything is killed when tb ends.
func StartSentinel(tb testing.TB, opt SentinelOptions) *Sentinel {
	tb.Helper()
	if opt.Sentinels <= 0 {
		opt.Sentinels = 1
	}
	bin := binary(tb, "redis-server")
	// No 5 s wait before a diskless sync: a replica syncs at once.
	fast := []string{"--repl-diskless-sync-delay", "0"}
	s := &Sentinel{tb: tb, Master: Start(tb, fast...)}
	for i := 0; i < opt.Replicas; i++ {
		r := Start(tb, append(fast, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port()))...)
		s.Replicas = append(s.Replicas, r)
	}
	for _, r := range s.Replicas {
		s.waitFor(fmt.Sprintf("replica %s in sync with the master", r.Addr()), func() (bool, string) {
			info, err := r.Do("INFO", "replication")
			return err == nil && strings.Contains(info, "master_link_status:up"), fmt.Sprint(info, err)
		})
	}

	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[1]s 2000\n"+
		"sentinel failover-timeout %[1]s 10000\n", MasterName, s.Master.Port())
	for i := 0; i < opt.Sentinels; i++ {
		n := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
		path := filepath.Join(n.dir, "sentinel.conf")
		n.pre = []string{path, "--sentinel"}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			// Written again on each attempt: a Sentinel rewrites its file.
			if err = os.WriteFile(path, []byte(conf), 0o600); err != nil {
				break
			}
			if n.port, err = freePort(false); err != nil {
				continue
			}
			if err = n.start(); err == nil {
				break
			}
		}
		if err != nil {
			tb.Fatalf("redistest: sentinel %d: %v", i, err)
		}
		tb.Cleanup(n.Stop)
		s.Sentinels = append(s.Sentinels, n)
	}

	for _, n := range s.Sentinels {
		s.waitFor("sentinel "+n.Addr()+" to report the master", func() (bool, string) {
			addr, err := s.MasterAddr(n)
			return err == nil && addr == s.Master.Addr(), fmt.Sprint(addr, err)
		})
		s.waitFor("sentinel "+n.Addr()+" to connect to the master and its replicas", func() (bool, string) {
			m, err := sentinelMaster(n)
			return err == nil && m["flags"] == "master" && m["num-slaves"] == strconv.Itoa(len(s.Replicas)),
				fmt.Sprint(m, err)
		})
	}
	return s
}

// MasterAddr is the master's host:port as Sentinel n reports it
// (SENTINEL get-master-addr-by-name).
func (s *Sentinel) MasterAddr(n *Server) (string, error) {
	p, err := doParts(n.Addr(), "SENTINEL", "get-master-addr-by-name", MasterName)
	if err != nil {
		return "", err
	}
	if len(p) != 2 {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name: %q", p)
	}
	return p[0] + ":" + p[1], nil
}

// WaitReplicated waits until every replica has applied everything the
// master has written so far (its replication offset reached the master's).
func (s *Sentinel) WaitReplicated() {
	s.tb.Helper()
	want, err := replOffset(s.Master, "master_repl_offset")
	if err != nil {
		s.tb.Fatalf("redistest: master offset: %v", err)
	}
	for _, r := range s.Replicas {
		s.waitFor("replica "+r.Addr()+" to reach the master's offset "+strconv.FormatInt(want, 10), func() (bool, string) {
			got, err := replOffset(r, "slave_repl_offset")
			return err == nil && got >= want, fmt.Sprint(got, err)
		})
	}
}

// Failover forces a failover (SENTINEL FAILOVER on the first Sentinel) and
// waits until a replica reports itself master and every Sentinel reports
// it. The promoted replica becomes Master, and the old master is put in
// Replicas (Sentinel turns it into a replica once it sees it). Call
// WaitReplicated first if the replicas must hold every write.
func (s *Sentinel) Failover() {
	s.tb.Helper()
	if len(s.Replicas) == 0 {
		s.tb.Fatal("redistest: Failover needs a replica")
	}
	// -NOGOODSLAVE until the Sentinel has connected to a replica.
	s.waitFor("SENTINEL FAILOVER to start", func() (bool, string) {
		r, err := s.Sentinels[0].Do("SENTINEL", "FAILOVER", MasterName)
		return err == nil && r == "+OK", fmt.Sprint(r, err)
	})
	var promoted *Server
	s.waitFor("sentinel "+s.Sentinels[0].Addr()+" to report a replica as master", func() (bool, string) {
		addr, err := s.MasterAddr(s.Sentinels[0])
		for _, r := range s.Replicas {
			if addr == r.Addr() {
				promoted = r
				return true, ""
			}
		}
		return false, fmt.Sprint(addr, err)
	})
	s.waitFor(promoted.Addr()+" to report role master", func() (bool, string) {
		info, err := promoted.Do("INFO", "replication")
		return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(info, err)
	})
	for _, n := range s.Sentinels[1:] {
		s.waitFor("sentinel "+n.Addr()+" to report the new master", func() (bool, string) {
			addr, err := s.MasterAddr(n)
			return err == nil && addr == promoted.Addr(), fmt.Sprint(addr, err)
		})
	}
	replicas := []*Server{s.Master}
	for _, r := range s.Replicas {
		if r != promoted {
			replicas = append(replicas, r)
		}
	}
	s.Master, s.Replicas = promoted, replicas
}

// waitFor polls cond until it holds, or fails the test after
// sentinelTimeout with what cond last saw.
func (s *Sentinel) waitFor(what string, cond func() (bool, string)) {
	s.tb.Helper()
	err := eventually.Within(sentinelTimeout, func() error {
		if ok, last := cond(); !ok {
			return fmt.Errorf("last seen: %s", last)
		}
		return nil
	})
	if err != nil {
		s.tb.Fatalf("redistest: waited %v for %s; %v", sentinelTimeout, what, err)
	}
}

// sentinelMaster is SENTINEL MASTER's field/value reply as a map.
func sentinelMaster(n *Server) (map[string]string, error) {
	p, err := doParts(n.Addr(), "SENTINEL", "MASTER", MasterName)
	if err != nil {
		return nil, err
	}
	if len(p)%2 != 0 {
		return nil, fmt.Errorf("SENTINEL MASTER: %q", p)
	}
	m := make(map[string]string, len(p)/2)
	for i := 0; i < len(p); i += 2 {
		m[p[i]] = p[i+1]
	}
	return m, nil
}

// replOffset reads field (master_repl_offset, slave_repl_offset) from INFO
// replication.
func replOffset(s *Server, field string) (int64, error) {
	return s.info("replication", field)
}
