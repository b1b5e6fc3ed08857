package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scgate/scgate/internal/freeport"
)

// Bounds on everything that waits for a child process.
const (
	buildTimeout   = 10 * time.Minute
	startTimeout   = 20 * time.Second
	stopTimeout    = 10 * time.Second
	pollInterval   = 50 * time.Millisecond
	commandTimeout = 30 * time.Second
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every mainstream Linux; initClockTicks asks getconf once in
// case this one differs.
var clockTicks int64 = 100

func initClockTicks() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
	if err != nil {
		return
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
		clockTicks = n
	}
}

// buildGateway compiles ./cmd/scgate of the module in the current directory
// into dir and returns the binary's path.
func buildGateway(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	bin := filepath.Join(dir, "scgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/scgate")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/scgate: %v\n%s", err, out.Bytes())
	}
	return bin, nil
}

// freePort returns a TCP port that was free a moment ago, below the
// kernel's ephemeral range (freeport): a port from that range can be taken
// by any outgoing connection before the gateway binds it.
func freePort() (int, error) { return freeport.Pick(0) }

// freePorts returns n distinct free ports, as freePort.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// proc is a child process the benchmark started. Every proc is registered in
// a procSet so that it is stopped on every exit path.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// procSet tracks the running children.
type procSet struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func newProcSet() *procSet { return &procSet{procs: make(map[*proc]struct{})} }

// start runs name args..., with stdout and stderr going to logPath and
// env added to the environment.
func (s *procSet) start(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	logf.Close() // the child holds its own copy
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs[p] = struct{}{}
	s.mu.Unlock()
	return p, nil
}

// stop ends p: SIGTERM, then SIGKILL after stopTimeout.
func (s *procSet) stop(p *proc) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every child still running.
func (s *procSet) stopAll() {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		s.stop(p)
	}
}

// exited reports whether p has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last n bytes of p's output, for error messages.
func (p *proc) logTail(n int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, 0)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(f)
	return b.String()
}

// cpuTicks returns utime+stime of pid (all its threads) in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime from the text of /proc/<pid>/stat. The
// command name (field 2) is parenthesized and may contain spaces, so fields
// are counted from the last ')': field 3 (state) is the first after it,
// utime and stime are fields 14 and 15.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat: no ')'")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat: utime/stime")
	}
	return utime + stime, nil
}

// gateway is one running scgate process.
type gateway struct {
	*proc
	url   string // http://127.0.0.1:<port>/
	admin string // 127.0.0.1:<admin port>
}

// respondBody is what the respond configuration answers: about the size of
// the gateway's own answer to a duplicate, without braces (placeholders).
const respondBody = "outcome: duplicate"

// gatewayConfig renders the Caddyfile of configuration kind. store is the
// Redis URL of the gateway-redis configurations and the inbox file of
// gateway-inbox, the nats://host:port/STREAM of gateway-inbox-nats; the
// others do not use it.
func gatewayConfig(kind configKind, adminPort, port int, upstream, secret, store string) string {
	redisURL := store
	var site string
	switch kind {
	case configBare:
		site = fmt.Sprintf("\treverse_proxy %s\n", upstream)
	case configRespond:
		site = fmt.Sprintf("\trespond %q 200\n", respondBody)
	case configMemory, configMemoryDup:
		site = fmt.Sprintf("\tscreenshotcenter_webhook {\n\t\tsecret %s\n\t}\n\treverse_proxy %s\n", secret, upstream)
	case configRedis, configRedisUnix, configRedisDup:
		site = fmt.Sprintf("\tscreenshotcenter_webhook {\n\t\tsecret %s\n\t\tdedupe redis {\n\t\t\turl %s\n\t\t}\n\t}\n\treverse_proxy %s\n",
			secret, redisURL, upstream)
	case configInbox:
		site = inboxSite(secret, "http://"+upstream+"/", "store "+store, inboxConcurrency, "")
	case configInboxNATS:
		url, stream := splitNATSStore(store)
		site = inboxSite(secret, "http://"+upstream+"/", "backend nats "+url+" {\n\t\t\t\tstream "+stream+"\n\t\t\t}", inboxConcurrency, "")
	}
	return caddyfile(adminPort, port, site)
}

// inboxConcurrency is the concurrency of gateway-inbox: the default.
const inboxConcurrency = 8

// inboxSite is a site block whose gateway queues events in the inbox of
// where (its store or backend subdirective) delivering to deliverTo, with
// concurrency deliveries in flight and backoff ("" for the default)
// between attempts.
func inboxSite(secret, deliverTo, where string, concurrency int, backoff string) string {
	opts := fmt.Sprintf("\t\t\tdeliver_to %s\n\t\t\t%s\n\t\t\tconcurrency %d\n", deliverTo, where, concurrency)
	if backoff != "" {
		opts += "\t\t\tattempts 100000\n\t\t\tbackoff " + backoff + "\n"
	}
	return fmt.Sprintf("\tscreenshotcenter_webhook {\n\t\tsecret %s\n\t\tinbox {\n%s\t\t}\n\t}\n", secret, opts)
}

// caddyfile is the whole Caddyfile of a gateway with one site.
func caddyfile(adminPort, port int, site string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	persist_config off
}

http://127.0.0.1:%d {
%s}
`, adminPort, port, site)
}

// writeConfig writes a Caddyfile for kind into dir and returns its path, the
// site port and the admin port.
func writeConfig(dir string, seq int, kind configKind, upstream, secret, store string) (path string, port, adminPort int, err error) {
	return writeCaddyfile(dir, seq, string(kind), func(adminPort, port int) string {
		return gatewayConfig(kind, adminPort, port, upstream, secret, store)
	})
}

// writeCaddyfile writes the Caddyfile render makes for free admin and site
// ports into dir, and returns its path and the ports.
func writeCaddyfile(dir string, seq int, name string, render func(adminPort, port int) string) (path string, port, adminPort int, err error) {
	ports, err := freePorts(2)
	if err != nil {
		return "", 0, 0, err
	}
	path = filepath.Join(dir, fmt.Sprintf("Caddyfile.%03d.%s", seq, name))
	if err := os.WriteFile(path, []byte(render(ports[0], ports[1])), 0o600); err != nil {
		return "", 0, 0, err
	}
	return path, ports[1], ports[0], nil
}

// startGateway starts a fresh scgate process for kind and waits until its
// site answers HTTP.
func startGateway(ctx context.Context, ps *procSet, bin, dir string, seq int, kind configKind, upstream, secret, store string) (*gateway, error) {
	return startSite(ctx, ps, bin, dir, seq, string(kind), func(adminPort, port int) string {
		return gatewayConfig(kind, adminPort, port, upstream, secret, store)
	})
}

// startSite starts a fresh scgate process on the Caddyfile render makes,
// named name in the logs, and waits until its site answers HTTP.
func startSite(ctx context.Context, ps *procSet, bin, dir string, seq int, name string, render func(adminPort, port int) string) (*gateway, error) {
	cfgPath, port, adminPort, err := writeCaddyfile(dir, seq, name, render)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("scgate.%03d.%s.log", seq, name))
	// Each gateway keeps Caddy's data and config (storage, locks,
	// autosave.json, an inbox's default file) in the run's directory, out
	// of the user's home.
	home := filepath.Join(dir, fmt.Sprintf("home.%03d.%s", seq, name))
	env := []string{"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_CONFIG_HOME=" + filepath.Join(home, "config")}
	p, err := ps.start(name, logPath, env, bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	if err != nil {
		return nil, err
	}
	g := &gateway{proc: p, url: fmt.Sprintf("http://127.0.0.1:%d/", port), admin: fmt.Sprintf("127.0.0.1:%d", adminPort)}
	if err := waitHTTP(ctx, p, g.url); err != nil {
		ps.stop(p)
		return nil, fmt.Errorf("gateway %s did not start: %w\n--- log tail ---\n%s", name, err, p.logTail(2000))
	}
	return g, nil
}

// cpuProfile fetches a CPU profile of d from the gateway's admin endpoint
// into path, in the background; the channel gets the outcome.
func (g *gateway) cpuProfile(ctx context.Context, d time.Duration, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		secs := max(1, int(d.Seconds()))
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", g.admin, secs)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			done <- err
			return
		}
		client := &http.Client{Timeout: d + 30*time.Second, Transport: &http.Transport{Proxy: nil}}
		resp, err := client.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("profile: status %d", resp.StatusCode)
			return
		}
		f, err := os.Create(path)
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	return done
}

// waitHTTP polls url until anything answers, p exits, or startTimeout.
func waitHTTP(ctx context.Context, p *proc, url string) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("process exited: %v", p.waitErr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(pollInterval)
	}
	return errors.New("timed out")
}

// validateConfig runs `scgate validate` on a Caddyfile for kind and returns
// its output on failure. It is how the benchmark learns whether the built
// binary accepts a configuration (e.g. the Redis dedupe backend).
func validateConfig(ctx context.Context, bin, dir string, kind configKind, upstream, secret, store string) error {
	path, _, _, err := writeConfig(dir, 0, kind, upstream, secret, store)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "validate", "--config", path, "--adapter", "caddyfile")
	setChildAttrs(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("scgate validate: %v: %s", err, lastErrorLine(out))
	}
	return nil
}

// lastErrorLine picks the most useful line of a failed Caddy command's output.
func lastErrorLine(out []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	// Caddy logs JSON; its "msg" is the readable part.
	var entry struct {
		Msg string `json:"msg"`
	}
	if json.Unmarshal([]byte(last), &entry) == nil && entry.Msg != "" {
		last = entry.Msg
	}
	if len(last) > 400 {
		last = last[:400] + "..."
	}
	return last
}

// redisServer is a private redis-server the benchmark started.
type redisServer struct {
	*proc
	addr string
	sock string // its Unix socket
}

// startRedis starts redis-server on a free loopback port without
// persistence and waits for PING.
func startRedis(ctx context.Context, ps *procSet, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found in PATH")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	p, err := ps.start("redis-server", filepath.Join(dir, "redis.log"), nil, bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	r := &redisServer{proc: p, addr: fmt.Sprintf("127.0.0.1:%d", port), sock: sock}
	deadline := time.Now().Add(startTimeout)
	for {
		if err := r.command("PING", "+PONG"); err == nil {
			return r, nil
		}
		if p.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			ps.stop(p)
			return nil, fmt.Errorf("redis-server did not start\n%s", p.logTail(2000))
		}
		time.Sleep(pollInterval)
	}
}

// url is the redis:// URL of database 0.
func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

// unixURL is the URL of its Unix socket.
func (r *redisServer) unixURL() string { return "unix://" + r.sock }

// command sends a one-word command and checks the one-line reply.
func (r *redisServer) command(cmd, want string) error {
	c, err := net.DialTimeout("tcp", r.addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "*1\r\n$%d\r\n%s\r\n", len(cmd), cmd); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(line); got != want {
		return fmt.Errorf("redis %s: got %q", cmd, got)
	}
	return nil
}

// natsServer is the private nats-server of gateway-inbox-nats.
type natsServer struct {
	*proc
	addr string
}

// startNATS starts nats-server -js on a free loopback port, its file store
// in dir, and waits for its greeting.
func startNATS(ctx context.Context, ps *procSet, dir string) (*natsServer, error) {
	bin, err := natsBinary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := ps.start("nats-server", filepath.Join(dir, "nats.log"), nil, bin,
		"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", filepath.Join(dir, "nats"))
	if err != nil {
		return nil, err
	}
	n := &natsServer{proc: p, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	deadline := time.Now().Add(startTimeout)
	for {
		if err := n.greets(); err == nil {
			return n, nil
		}
		if p.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			ps.stop(p)
			return nil, fmt.Errorf("nats-server did not start\n%s", p.logTail(2000))
		}
		time.Sleep(pollInterval)
	}
}

// natsBinary finds nats-server on PATH or where Debian installs it.
func natsBinary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/nats-server"); err == nil {
		return p, nil
	}
	return "", errors.New("nats-server not found in PATH or /usr/sbin")
}

// natsVersion is the server's version, or "(version unknown)".
func natsVersion() string {
	bin, err := natsBinary()
	if err != nil {
		return "(version unknown)"
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")
}

// greets connects a NATS client: the server is ready for one.
func (n *natsServer) greets() error {
	nc, err := nats.Connect("nats://"+n.addr, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	nc.Close()
	return nil
}

// store is the inbox store of run seq: the server and a stream of its own,
// as the admin API names it (nats://host:port/STREAM).
func (n *natsServer) store(seq int) string {
	return fmt.Sprintf("nats://%s/BENCH_%03d", n.addr, seq)
}

// splitNATSStore splits a store of natsServer.store into its URL and
// stream.
func splitNATSStore(store string) (url, stream string) {
	i := strings.LastIndexByte(store, '/')
	return store[:i], store[i+1:]
}
