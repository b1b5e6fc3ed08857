// Package gatewaytest runs real scgate processes and real upstream servers on
// loopback for tests that need more than one process (two gateways sharing a
// store, a sender talking to a gateway, a gateway started from a file) or that
// exercise the binary itself (flags, environment, exit on a bad config).
//
// A typical test:
//
//	up := gatewaytest.NewUpstream(t)
//	gw := gatewaytest.Start(t, gatewaytest.Options{
//		Config: `{
//			admin {{ADMIN_ADDR}}
//			persist_config off
//		}
//		http://127.0.0.1:{{HTTP_PORT}} {
//			screenshotcenter_webhook { secret {env.SECRET} }
//			reverse_proxy ` + up.Addr + `
//		}`,
//		Env: []string{"SECRET=s3cret"},
//	})
//	resp, err := http.Post(gw.URL+"/", "application/json", body)
//
// The binary is built once per test process (see Binary) without -trimpath.
// Every gateway gets its own free HTTP and admin ports, its own XDG data and
// config directories (nothing touches ~/.local/share/caddy) and a log of its
// stdout and stderr; it is stopped when the test ends, and its output is
// written to the test log if the test failed.
package gatewaytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/freeport"
)

// Config template values. Options.Config and the config given to Reload may
// contain these; they are replaced before the config is used. They use double
// braces so they cannot be mistaken for Caddy placeholders.
const (
	// VarHTTPPort is replaced by the gateway's HTTP port, e.g. 41235.
	VarHTTPPort = "{{HTTP_PORT}}"
	// VarHTTPSPort is replaced by a second free port, for configs that set
	// https_port (Caddy binds it only if a site needs HTTPS).
	VarHTTPSPort = "{{HTTPS_PORT}}"
	// VarAdminAddr is replaced by the admin address, e.g. 127.0.0.1:41236.
	VarAdminAddr = "{{ADMIN_ADDR}}"
	// VarAdminPort is replaced by the admin port alone.
	VarAdminPort = "{{ADMIN_PORT}}"
)

// BinaryEnv names an environment variable that, when set, is used as the
// path of a prebuilt scgate binary instead of building one.
const BinaryEnv = "SCGATE_TEST_BINARY"

// DefaultReadyTimeout is how long Start waits for a gateway to become ready.
const DefaultReadyTimeout = 60 * time.Second

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 15 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Binary returns the path of an scgate binary built from this module with
// `go build` (no -trimpath), building it on the first call of the test
// process; later calls return the same path. If SCGATE_TEST_BINARY is set,
// that binary is used instead. A build failure fails tb.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			buildPath = p
			return
		}
		buildPath, buildErr = build()
	})
	if buildErr != nil {
		tb.Fatalf("gatewaytest: building scgate: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	buildDir, err = os.MkdirTemp("", "scgate-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "scgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/scgate")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}

// Cleanup removes the binary built by Binary, if any. Call it from TestMain
// after m.Run; it is harmless when nothing was built.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// FreePort returns a TCP port that was free a moment ago, below the
// kernel's ephemeral range (see freeport).
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freeport.Pick(0)
	if err != nil {
		tb.Fatalf("gatewaytest: finding a free port: %v", err)
	}
	return p
}

// Options describe a gateway process.
type Options struct {
	// Config is the Caddyfile or JSON config, with the Var* values above
	// filled in by Start. It should set the admin address to
	// {{ADMIN_ADDR}} (the process also gets CADDY_ADMIN set to it, which
	// covers a config that does not set it) and `persist_config off`.
	Config string
	// Adapter is "caddyfile" (the default) or "json".
	Adapter string
	// ConfigFile, if set, is run instead of Config: a path to an existing
	// file (for example the repository's Caddyfile.example), used as is.
	ConfigFile string
	// Args are extra arguments to `scgate run` (e.g. "--watch").
	Args []string
	// Wrap, if set, is a command and its arguments that run the binary
	// (which follows them, with its arguments) and become it, such as
	// {"prlimit", "--fsize=262144", "--"} for a gateway whose files cannot
	// grow past 256 KiB, as on a full disk. The command must exec the
	// binary, so that signals reach the gateway itself.
	Wrap []string
	// Env is added to the environment of the process ("NAME=value").
	Env []string
	// UnsetEnv names variables removed from the inherited environment.
	UnsetEnv []string
	// HTTPPort, HTTPSPort and AdminPort are the ports to use; zero picks
	// a free one.
	HTTPPort, HTTPSPort, AdminPort int
	// WaitHTTP makes Start also wait until the HTTP port accepts
	// connections. It is implied when Config mentions {{HTTP_PORT}}.
	WaitHTTP bool
	// ReadyTimeout bounds the wait for readiness; default
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Gateway is a running scgate process.
type Gateway struct {
	// HTTPPort, HTTPSPort and AdminPort are the ports the gateway was given.
	HTTPPort, HTTPSPort, AdminPort int
	// URL is "http://127.0.0.1:<HTTPPort>".
	URL string
	// AdminURL is "http://127.0.0.1:<AdminPort>".
	AdminURL string
	// Dir is the gateway's private directory: config file, log and XDG
	// directories.
	Dir string
	// LogPath is the file that receives the process's stdout and stderr.
	LogPath string

	tb      testing.TB
	adapter string
	cmd     *exec.Cmd
	out     *syncBuffer
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// Start runs a gateway and waits until it is ready; it fails tb if the
// gateway cannot start. The gateway is stopped when the test ends.
func Start(tb testing.TB, opts Options) *Gateway {
	tb.Helper()
	// A port FreePort found free can be taken by another process before
	// the gateway binds it (parallel test packages): start again on new
	// ports, when they were picked here.
	picked := opts.HTTPPort == 0 && opts.HTTPSPort == 0 && opts.AdminPort == 0
	for attempt := 1; ; attempt++ {
		g, err := Launch(tb, opts)
		if err == nil {
			return g
		}
		if !picked || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatalf("gatewaytest: %v", err)
		}
		tb.Logf("gatewaytest: a picked port was taken meanwhile; starting again on new ports")
	}
}

// Launch is Start for tests that expect a gateway may fail to start: it
// returns an error (including the process output) instead of failing tb.
// When it returns an error the process has exited or been killed, and the
// returned Gateway (non-nil once the process was started) still gives access
// to Output and ExitCode.
func Launch(tb testing.TB, opts Options) (*Gateway, error) {
	tb.Helper()
	bin := Binary(tb)
	if opts.HTTPPort == 0 {
		opts.HTTPPort = FreePort(tb)
	}
	if opts.HTTPSPort == 0 {
		opts.HTTPSPort = FreePort(tb)
	}
	if opts.AdminPort == 0 {
		opts.AdminPort = FreePort(tb)
	}
	if opts.Adapter == "" {
		opts.Adapter = "caddyfile"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	g := &Gateway{
		HTTPPort:  opts.HTTPPort,
		HTTPSPort: opts.HTTPSPort,
		AdminPort: opts.AdminPort,
		URL:       "http://127.0.0.1:" + strconv.Itoa(opts.HTTPPort),
		AdminURL:  "http://127.0.0.1:" + strconv.Itoa(opts.AdminPort),
		Dir:       tb.TempDir(),
		tb:        tb,
		adapter:   opts.Adapter,
		out:       new(syncBuffer),
		done:      make(chan struct{}),
	}
	cfgPath := opts.ConfigFile
	if cfgPath == "" {
		name := "Caddyfile"
		if opts.Adapter == "json" {
			name = "config.json"
		}
		cfgPath = filepath.Join(g.Dir, name)
		if err := os.WriteFile(cfgPath, []byte(g.Expand(opts.Config)), 0o600); err != nil {
			return nil, err
		}
	}
	g.LogPath = filepath.Join(g.Dir, "output.log")
	logFile, err := os.Create(g.LogPath)
	if err != nil {
		return nil, err
	}
	g.logFile = logFile

	args := append([]string{"run", "--config", cfgPath, "--adapter", opts.Adapter}, opts.Args...)
	cmd := exec.Command(bin, args...)
	if len(opts.Wrap) > 0 {
		cmd = exec.Command(opts.Wrap[0], append(append(opts.Wrap[1:len(opts.Wrap):len(opts.Wrap)], bin), args...)...)
	}
	cmd.Dir = g.Dir
	cmd.Env = buildEnv(opts, g)
	w := io.MultiWriter(g.out, logFile)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	g.cmd = cmd
	go func() {
		g.waitErr = cmd.Wait()
		logFile.Close()
		close(g.done)
	}()
	tb.Cleanup(func() {
		if g.Running() {
			if err := g.Stop(); err != nil {
				tb.Logf("gatewaytest: %v", err)
			}
		}
		if tb.Failed() {
			tb.Logf("gatewaytest: output of gateway on %s:\n%s", g.URL, g.Output())
		}
	})

	waitHTTP := opts.WaitHTTP || strings.Contains(opts.Config, VarHTTPPort)
	if err := g.waitReady(opts.ReadyTimeout, waitHTTP); err != nil {
		if g.Running() {
			g.Kill()
		}
		return g, fmt.Errorf("gateway did not become ready: %v\n--- output ---\n%s", err, g.Output())
	}
	return g, nil
}

func buildEnv(opts Options, g *Gateway) []string {
	drop := map[string]bool{"CADDY_ADMIN": true, "XDG_DATA_HOME": true, "XDG_CONFIG_HOME": true}
	for _, n := range opts.UnsetEnv {
		drop[n] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CADDY_ADMIN=127.0.0.1:"+strconv.Itoa(g.AdminPort),
		"XDG_DATA_HOME="+filepath.Join(g.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.Dir, "config"),
	)
	return append(env, opts.Env...)
}

// Expand replaces the Var* template values in config with this gateway's.
func (g *Gateway) Expand(config string) string {
	return strings.NewReplacer(
		VarHTTPPort, strconv.Itoa(g.HTTPPort),
		VarHTTPSPort, strconv.Itoa(g.HTTPSPort),
		VarAdminAddr, "127.0.0.1:"+strconv.Itoa(g.AdminPort),
		VarAdminPort, strconv.Itoa(g.AdminPort),
	).Replace(config)
}

func (g *Gateway) waitReady(timeout time.Duration, waitHTTP bool) error {
	client := &http.Client{Timeout: 2 * time.Second}
	adminUp := false
	return eventually.Within(timeout, func() error {
		if !g.Running() {
			return eventually.Stop(fmt.Errorf("process exited (%v)", g.waitErr))
		}
		if !adminUp {
			resp, err := client.Get(g.AdminURL + "/config/")
			if err != nil {
				return fmt.Errorf("admin endpoint: %w", err)
			}
			resp.Body.Close()
			if adminUp = resp.StatusCode == http.StatusOK; !adminUp {
				return fmt.Errorf("admin endpoint answered %d", resp.StatusCode)
			}
		}
		if waitHTTP {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(g.HTTPPort), time.Second)
			if err != nil {
				return fmt.Errorf("admin ready, HTTP port not: %w", err)
			}
			c.Close()
		}
		return nil
	})
}

// Output returns everything the process wrote to stdout and stderr so far.
func (g *Gateway) Output() string { return g.out.String() }

// WaitOutput waits until the output contains substr; it reports whether it
// did within timeout (false early if the process exits without it).
func (g *Gateway) WaitOutput(substr string, timeout time.Duration) bool {
	return eventually.Within(timeout, func() error {
		switch {
		case strings.Contains(g.Output(), substr):
			return nil
		case !g.Running():
			return eventually.Stop(errors.New("exited"))
		}
		return errors.New("not yet")
	}) == nil
}

// Running reports whether the process has not exited yet.
func (g *Gateway) Running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// Done is closed when the process has exited.
func (g *Gateway) Done() <-chan struct{} { return g.done }

// Wait waits up to timeout for the process to exit by itself and returns
// its exit error (nil for status 0); it returns an error if it is still
// running after timeout.
func (g *Gateway) Wait(timeout time.Duration) error {
	select {
	case <-g.done:
		return g.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("gateway still running after %v", timeout)
	}
}

// ExitCode returns the exit code of the process, or -1 if it is running or
// was killed by a signal.
func (g *Gateway) ExitCode() int {
	if g.Running() || g.cmd.ProcessState == nil {
		return -1
	}
	return g.cmd.ProcessState.ExitCode()
}

// PID returns the process id.
func (g *Gateway) PID() int { return g.cmd.Process.Pid }

// Stop shuts the gateway down gracefully: SIGTERM, then SIGKILL if it has
// not exited within StopTimeout. It returns an error only if SIGKILL was
// needed; the exit status is available from ExitCode. Stop is idempotent.
func (g *Gateway) Stop() error {
	if !g.Running() {
		return nil
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
		return nil
	case <-time.After(StopTimeout):
	}
	g.Kill()
	return fmt.Errorf("gateway on %s ignored SIGTERM for %v and was killed", g.URL, StopTimeout)
}

// Kill ends the process at once with SIGKILL (no cleanup runs, as in a
// crash) and waits for it to exit.
func (g *Gateway) Kill() {
	if !g.Running() {
		return
	}
	_ = g.cmd.Process.Kill()
	<-g.done
}

// Reload posts config (with the Var* values expanded, in the gateway's
// adapter format) to the admin /load endpoint. Remember that loading a config
// identical to the running one is a no-op in Caddy.
func (g *Gateway) Reload(config string) error {
	ctype := "text/caddyfile"
	if g.adapter == "json" {
		ctype = "application/json"
	}
	return g.Admin(http.MethodPost, "/load", ctype, g.Expand(config))
}

// Admin sends a request to the admin endpoint and returns an error unless it
// answers 200.
func (g *Gateway) Admin(method, path, contentType, body string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, g.AdminURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
