package multigateway_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/redistest"
)

// connectionsReceived is the server's count of connections received,
// this call's own included: a config that touched nothing between two
// calls leaves a difference of exactly 1.
func connectionsReceived(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	n, err := srv.ConnectionsReceived()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fifoSnapshot makes a FIFO for a persist option that must not be opened,
// and returns its path and whether a process opened it. A process that
// opens it for reading meets a writer that closes at once, so it reads an
// empty snapshot, a config error: it cannot open the file unseen, nor hang.
func fifoSnapshot(t *testing.T) (path string, opened func() bool) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "dedupe.snap")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	var was atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for a reader
		if err != nil {
			return
		}
		was.Store(true)
		f.Close()
	}()
	released := false
	t.Cleanup(func() {
		// A reader of our own lets the writer go.
		if r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			released = true
			<-done
			r.Close()
		}
	})
	return path, func() bool { return !released && was.Load() }
}

// storesConfig is a site with a handler on the Redis server at url and one
// on a memory store persisted to snapshot, and then the handlers of extra.
func storesConfig(url, snapshot, upstream string, extra ...string) string {
	return `{
		admin {{ADMIN_ADDR}}
		persist_config off
		auto_https off
	}
	http://127.0.0.1:{{HTTP_PORT}} {
		route {
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
				dedupe redis {
					url ` + url + `
					key_prefix e2e:
				}
			}
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
				dedupe memory {
					persist ` + snapshot + `
				}
			}
			` + strings.Join(extra, "\n") + `
			reverse_proxy ` + upstream + `
		}
	}`
}

// `scgate validate` connects to no Redis server and opens no snapshot: the
// dedupe stores start when a config starts (issue 16, bug 2).
func TestValidateTouchesNoStore(t *testing.T) {
	srv := redistest.Start(t)
	snapshot, opened := fifoSnapshot(t)
	up := gatewaytest.NewUpstream(t)
	g := &gatewaytest.Gateway{HTTPPort: gatewaytest.FreePort(t), AdminPort: gatewaytest.FreePort(t)}
	config := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(config, []byte(g.Expand(storesConfig(srv.URL(), snapshot, up.Addr))), 0o600); err != nil {
		t.Fatal(err)
	}

	before := connectionsReceived(t, srv)
	stdout, stderr, code := gatewaytest.Run(t, []string{"SCGATE_E2E_SECRET=" + secret}, "validate", "--config", config, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(stdout+stderr, "Valid configuration") {
		t.Errorf("validate exited %d:\n%s%s", code, stdout, stderr)
	}
	if n := connectionsReceived(t, srv) - before - 1; n != 0 {
		t.Errorf("validate made %d connections to Redis, want none", n)
	}
	if opened() || strings.Contains(stdout+stderr, snapshot) {
		t.Errorf("validate opened the snapshot:\n%s%s", stdout, stderr)
	}
}

// A reload that Caddy rejects (a later handler fails to load) connects to
// no Redis server, opens no snapshot and leaves the running store as it
// was; the same stores start once a config using them starts.
func TestRejectedReloadTouchesNoStore(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	running := memoryGateway(t, filepath.Join(t.TempDir(), "running.snap"), up)
	if got := outcome(deliver(t, running, eventBody(1))); got != "forwarded" {
		t.Fatalf("first delivery: %s", got)
	}

	srv := redistest.Start(t)
	snapshot, opened := fifoSnapshot(t)
	before := connectionsReceived(t, srv)
	err := running.Reload(storesConfig(srv.URL(), snapshot, up.Addr, `screenshotcenter_webhook {
				secret {env.SCGATE_E2E_UNSET_SECRET}
			}`))
	if err == nil {
		t.Fatal("a reload with an unset secret was accepted")
	}
	if !strings.Contains(err.Error(), "SCGATE_E2E_UNSET_SECRET") || strings.Contains(err.Error(), snapshot) {
		t.Errorf("reload error %q: want the unset secret's, not the snapshot's", err)
	}
	if n := connectionsReceived(t, srv) - before - 1; n != 0 {
		t.Errorf("the rejected reload made %d connections to Redis, want none", n)
	}
	if opened() {
		t.Error("the rejected reload opened the snapshot")
	}
	if got := outcome(deliver(t, running, eventBody(1))); got != "duplicate" {
		t.Errorf("retry through the running gateway after the rejected reload: %s, want duplicate", got)
	}

	// A config that starts starts its store: the counter sees it.
	good := filepath.Join(t.TempDir(), "good.snap")
	before = connectionsReceived(t, srv)
	if err := running.Reload(storesConfig(srv.URL(), good, up.Addr)); err != nil {
		t.Fatalf("reload onto the stores: %v", err)
	}
	if got := outcome(deliver(t, running, eventBody(2))); got != "forwarded" {
		t.Fatalf("delivery through the new config: %s", got)
	}
	if got := outcome(deliver(t, running, eventBody(2))); got != "duplicate" {
		t.Errorf("retry through the new config: %s, want duplicate", got)
	}
	if n := connectionsReceived(t, srv) - before - 1; n == 0 {
		t.Error("the started config made no connection to Redis")
	}
}
