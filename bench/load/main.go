// Command load is the load benchmark of scgate (issue 5): it measures what
// the screenshotcenter_webhook gateway costs in front of reverse_proxy.
//
// Run it from the repository root:
//
//	go run ./bench/load -duration 3s -pairs 5 -concurrency 8 -out bench/results.md
//
// It builds ./cmd/scgate into a temporary directory, starts an in-process
// upstream (reads the body, answers 200 "ok") and, for every run, a fresh
// scgate process on free loopback ports with one of these Caddyfiles:
//
//   - bare: reverse_proxy only;
//   - gateway-memory: screenshotcenter_webhook (memory dedupe) + reverse_proxy;
//   - gateway-inbox: the same handler in inbox mode (no reverse_proxy): each
//     event written to a fresh inbox file with fsync and answered 202, then
//     delivered to the same upstream in the background (concurrency 8);
//   - gateway-inbox-nats: gateway-inbox with `backend nats` against a private
//     nats-server -js (file store) the benchmark starts, a fresh stream per
//     run: each event answered 202 once the JetStream publish is acked
//     (skipped, and said so, when nats-server is missing);
//   - gateway-redis: the same with `dedupe redis { url ... }` against a
//     private redis-server the benchmark starts (skipped, and said so, when
//     redis-server is missing or the built binary rejects the config);
//   - gateway-memory-duplicates and gateway-redis-duplicates: the gateway
//     answering only duplicates (one event delivered once, then sent over and
//     over), which it answers itself without contacting the upstream;
//   - respond: Caddy answering every request with a static `respond`, the
//     physical limit of the duplicates path on this machine.
//
// The configurations (all, or bare and those -configs names) run in pairs,
// bare, gateway-memory, gateway-redis, the duplicates and respond, then
// again, so that drift of a shared machine
// affects all of them alike. gateway-redis-unix is gateway-redis reaching the
// same redis-server through its Unix socket. -cpuprofile captures a CPU
// profile of one configuration's gateway (from its admin endpoint) during the
// first pair. Each run
// warms up, then sends events for a fixed duration from N concurrent
// keep-alive clients. Every event of a unique run has a fresh screenshot_id
// and is generated and signed before the run starts.
//
// Per run it records requests/s, p50 and p99 latency, errors (any answer other
// than the expected one) and the gateway process's CPU time per request
// (utime+stime from /proc/<pid>/stat, read before and after the timed
// window). It prints per-configuration medians, the paired ratios against bare
// (the median over pairs of each pair's ratio) and the targets (PASS/MISS,
// never a failing exit status), as Markdown on stdout and in -out.
//
// With -drain N it measures instead how fast an inbox empties after an
// outage, for each -drain-concurrency (drain.go).
//
// Only 127.0.0.1 is contacted. Everything the benchmark starts is stopped when
// it exits, also on Ctrl-C or an error (and killed by the kernel if the
// benchmark itself is killed).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// configKind names one gateway configuration.
type configKind string

const (
	configBare      configKind = "bare"
	configMemory    configKind = "gateway-memory"
	configInbox     configKind = "gateway-inbox"
	configInboxNATS configKind = "gateway-inbox-nats"
	configRedis     configKind = "gateway-redis"
	configRedisUnix configKind = "gateway-redis-unix"
	configMemoryDup configKind = "gateway-memory-duplicates"
	configRedisDup  configKind = "gateway-redis-duplicates"
	configRespond   configKind = "respond"
)

// allConfigs is every configuration, in the order of a pair.
var allConfigs = []configKind{configBare, configMemory, configInbox, configInboxNATS, configRedis, configRedisUnix,
	configMemoryDup, configRedisDup, configRespond}

// parseConfigs parses -configs: "" is every configuration.
func parseConfigs(s string) ([]configKind, error) {
	if s == "" {
		return nil, nil
	}
	var ks []configKind
	for _, f := range strings.Split(s, ",") {
		k := configKind(strings.TrimSpace(f))
		if !slices.Contains(allConfigs, k) {
			return nil, fmt.Errorf("-configs: unknown configuration %q (known: %s)", k, joinKinds(allConfigs))
		}
		ks = append(ks, k)
	}
	return ks, nil
}

func (k configKind) redis() bool {
	return k == configRedis || k == configRedisUnix || k == configRedisDup
}

// inbox reports whether kind answers 202 queued (an inbox).
func (k configKind) inbox() bool { return k == configInbox || k == configInboxNATS }

func (k configKind) duplicates() bool {
	return k == configMemoryDup || k == configRedisDup
}

// options are the command-line flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	pairs       int
	concurrency int
	out         string
	bin         string
	redis       bool
	nats        bool
	maxEvents   int
	cpuProfile  string
	profileDir  string
	drain       int
	drainConc   []int
	configs     []configKind // nil: every configuration
	strace      bool
}

// Bounds on the flags, so that every loop is bounded.
const (
	maxPairs       = 50
	maxDuration    = 5 * time.Minute
	maxWarmup      = time.Minute
	maxConcurrency = 1024
	calibrateFor   = time.Second
)

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "timed length of each run")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "untimed warm-up before each run, on the same connections")
	fs.IntVar(&o.pairs, "pairs", 5, "number of pairs (one run of every configuration each); medians need at least 5")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent keep-alive clients")
	fs.StringVar(&o.out, "out", "bench/results.md", "also write the Markdown report to this file (\"-\": stdout only)")
	fs.StringVar(&o.bin, "bin", "", "use this scgate binary instead of building ./cmd/scgate")
	fs.BoolVar(&o.redis, "redis", true, "include gateway-redis when possible")
	fs.BoolVar(&o.nats, "nats", true, "include gateway-inbox-nats when possible")
	fs.IntVar(&o.maxEvents, "max-events", 500_000, "most pre-signed events held for one run (~700 bytes each)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "comma-separated configurations whose gateway is CPU-profiled during the first pair (e.g. gateway-memory)")
	fs.StringVar(&o.profileDir, "profile-dir", "bench", "directory for -cpuprofile's file")
	fs.IntVar(&o.drain, "drain", 0, "instead of the load runs: queue this many events in an inbox while its application is down, start it, and measure the drain (see drain.go)")
	drainConc := fs.String("drain-concurrency", "1,8,32", "with -drain: the inbox concurrency values to measure")
	fs.BoolVar(&o.strace, "strace", false, "before the pairs, one extra run of each configuration with strace -c -f attached to its gateway for the timed window: system calls per request (not in the medians)")
	configs := fs.String("configs", "", "comma-separated configurations to run (bare always runs; \"\": all), e.g. gateway-memory,gateway-redis")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/load [flags]   (from the repository root)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.duration < 100*time.Millisecond || o.duration > maxDuration:
		return o, fmt.Errorf("-duration must be between 100ms and %v", maxDuration)
	case o.warmup < 0 || o.warmup > maxWarmup:
		return o, fmt.Errorf("-warmup must be between 0 and %v", maxWarmup)
	case o.pairs < 1 || o.pairs > maxPairs:
		return o, fmt.Errorf("-pairs must be between 1 and %d", maxPairs)
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return o, fmt.Errorf("-concurrency must be between 1 and %d", maxConcurrency)
	case o.maxEvents < 1000:
		return o, errors.New("-max-events must be at least 1000")
	case o.drain < 0 || o.drain > o.maxEvents:
		return o, fmt.Errorf("-drain must be between 0 and -max-events (%d)", o.maxEvents)
	}
	var err error
	if o.drainConc, err = parseConcurrencies(*drainConc); err != nil {
		return o, err
	}
	if o.configs, err = parseConfigs(*configs); err != nil {
		return o, err
	}
	if o.pairs < 5 {
		fmt.Fprintln(os.Stderr, "warning: fewer than 5 pairs; medians will be unreliable")
	}
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/load:", err)
		os.Exit(1)
	}
}

// bench holds what the runs share.
type bench struct {
	opts     options
	bin      string
	dir      string
	procs    *procSet
	up       *upstream
	redis    *redisServer // nil when gateway-redis is skipped
	nats     *natsServer  // nil when gateway-inbox-nats is skipped
	secret   []byte
	runTag   string
	estimate map[configKind]float64 // requests/s, to size the event pools
	seq      int
	tracing  bool         // runOne attaches strace (syscalls.go)
	syscalls []syscallRun // what the traced runs counted
}

func run(ctx context.Context, opts options) (err error) {
	if err := checkRepoRoot(); err != nil {
		return err
	}
	initClockTicks()
	dir, err := os.MkdirTemp("", "scgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{opts: opts, dir: dir, procs: newProcSet(), estimate: make(map[configKind]float64)}
	defer b.procs.stopAll() // runs before RemoveAll

	b.secret = []byte(randomHex(16))
	b.runTag = randomHex(4)

	if b.bin = opts.bin; b.bin == "" {
		logf("building ./cmd/scgate ...")
		if b.bin, err = buildGateway(ctx, dir); err != nil {
			return err
		}
	}
	if b.up, err = startUpstream(); err != nil {
		return err
	}
	defer b.up.close()

	if err := validateConfig(ctx, b.bin, dir, configMemory, b.up.addr, string(b.secret), ""); err != nil {
		return fmt.Errorf("gateway-memory config rejected: %w", err)
	}
	if err := validateConfig(ctx, b.bin, dir, configInbox, b.up.addr, string(b.secret), filepath.Join(dir, "inbox.validate.db")); err != nil {
		return fmt.Errorf("gateway-inbox config rejected: %w", err)
	}
	if opts.drain > 0 {
		md, err := b.runDrains(ctx, opts.drainConc)
		if err != nil {
			return err
		}
		return writeReport(md, opts.out)
	}
	redisNote := "not run: -configs names no Redis configuration"
	if opts.configs == nil || slices.ContainsFunc(opts.configs, configKind.redis) {
		redisNote = b.setupRedis(ctx)
	}
	logf("gateway-redis: %s", redisNote)

	natsNote := "not run: -configs names no nats configuration"
	if opts.configs == nil || slices.Contains(opts.configs, configInboxNATS) {
		natsNote = b.setupNATS(ctx)
	}
	logf("gateway-inbox-nats: %s", natsNote)

	var kinds []configKind
	for _, k := range allConfigs {
		if (!k.redis() || b.redis != nil) && (k != configInboxNATS || b.nats != nil) && (opts.configs == nil || k == configBare || slices.Contains(opts.configs, k)) {
			kinds = append(kinds, k)
		}
	}

	if err := b.calibrate(ctx, kinds); err != nil {
		return err
	}
	if opts.strace {
		b.tracing = true
		for _, k := range kinds {
			if _, err := b.runOne(ctx, k, 0); err != nil {
				return fmt.Errorf("strace run, %s: %w", k, err)
			}
		}
		b.tracing = false
	}
	var results []runResult
	for pair := 1; pair <= opts.pairs; pair++ {
		for _, k := range kinds {
			r, err := b.runOne(ctx, k, pair)
			if err != nil {
				return fmt.Errorf("pair %d, %s: %w", pair, k, err)
			}
			logf("pair %d/%d %-26s %s", pair, opts.pairs, k, r.line())
			results = append(results, r)
		}
	}
	rep := newReport(opts, kinds, results, redisNote)
	rep.natsNote = natsNote
	return writeReport(rep.markdown()+syscallsMarkdown(b.syscalls), opts.out)
}

// writeReport prints the Markdown report md and writes it to out, unless
// out is "-" or empty.
func writeReport(md, out string) error {
	fmt.Print(md)
	if out == "-" || out == "" {
		return nil
	}
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		return err
	}
	logf("report written to %s", out)
	return nil
}

// setupRedis starts the private redis-server and checks that the binary
// accepts the gateway-redis config. It returns a note for the report; b.redis
// stays nil when gateway-redis is skipped.
func (b *bench) setupRedis(ctx context.Context) string {
	if !b.opts.redis {
		return "skipped: -redis=false"
	}
	r, err := startRedis(ctx, b.procs, b.dir)
	if err != nil {
		return "skipped: " + oneLine(err.Error())
	}
	if err := validateConfig(ctx, b.bin, b.dir, configRedis, b.up.addr, string(b.secret), r.url()); err != nil {
		b.procs.stop(r.proc)
		return "skipped: the built scgate rejects `dedupe redis { url ... }`: " + oneLine(err.Error())
	}
	b.redis = r
	return "private redis-server " + redisVersion() + " on " + r.addr + " (no persistence), flushed before each run"
}

// setupNATS starts the private nats-server and checks that the binary
// accepts the gateway-inbox-nats config. It returns a note for the
// report; b.nats stays nil when gateway-inbox-nats is skipped.
func (b *bench) setupNATS(ctx context.Context) string {
	if !b.opts.nats {
		return "skipped: -nats=false"
	}
	n, err := startNATS(ctx, b.procs, b.dir)
	if err != nil {
		return "skipped: " + oneLine(err.Error())
	}
	if err := validateConfig(ctx, b.bin, b.dir, configInboxNATS, b.up.addr, string(b.secret), n.store(0)); err != nil {
		b.procs.stop(n.proc)
		return "skipped: the built scgate rejects `backend nats`: " + oneLine(err.Error())
	}
	b.nats = n
	return "private nats-server " + natsVersion() + " -js on " + n.addr + " (file store in the run's directory, the server's default sync), a fresh stream per run"
}

// calibrate measures bare once to size the event pools of the runs.
func (b *bench) calibrate(ctx context.Context, kinds []configKind) error {
	b.seq++
	g, err := startGateway(ctx, b.procs, b.bin, b.dir, b.seq, configBare, b.up.addr, string(b.secret), "")
	if err != nil {
		return err
	}
	defer b.procs.stop(g.proc)
	client := newClient(b.opts.concurrency)
	defer client.CloseIdleConnections()
	src := &source{events: makeEvents(b.secret, b.runTag+"_cal", 1), repeat: true}
	ph := runLoad(ctx, client, g.url, src, b.opts.concurrency, calibrateFor, expectOK)
	if err := ctx.Err(); err != nil {
		return err
	}
	if ph.errors > 0 || ph.requests == 0 {
		return fmt.Errorf("calibration against bare failed: %d requests, errors %v", ph.requests, ph.errKinds)
	}
	rps := float64(ph.requests) / ph.elapsed.Seconds()
	for _, k := range kinds {
		b.estimate[k] = rps
	}
	logf("calibration: bare ~%.0f requests/s", rps)
	return nil
}

// poolSize is how many unique events a run of kind gets: 3 times what the
// fastest run of kind so far would use (the calibration runs on a machine
// that may be busier than it is later: with 1.5 runs ran out of events and
// a CPU profile covered idle time), within [1000, -max-events].
func (b *bench) poolSize(kind configKind) int {
	secs := (b.opts.warmup + b.opts.duration).Seconds()
	n := math.Ceil(b.estimate[kind]*secs*3) + 1000
	return int(min(n, float64(b.opts.maxEvents)))
}

// runResult is one timed run.
type runResult struct {
	kind      configKind
	pair      int
	requests  int64 // completed, errors included
	errors    int64
	errKinds  map[string]int64
	elapsed   time.Duration
	rps       float64
	p50, p99  time.Duration
	cpuTicks  int64
	cpuPerReq float64 // µs of gateway CPU per request
	// µs of this process's CPU per request: load generator and upstream,
	// which compete with the gateway for the same cores.
	benchCPUPerReq float64
	// µs of redis-server's CPU per request (Redis configurations only).
	redisCPUPerReq float64
	upstreamHits   int64
	notes          []string
}

func (r runResult) line() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %s  p99 %s  cpu %6.1f µs/req  errors %d",
		r.rps, fmtDur(r.p50), fmtDur(r.p99), r.cpuPerReq, r.errors)
	if len(r.notes) > 0 {
		s += "  (" + strings.Join(r.notes, "; ") + ")"
	}
	return s
}

// runOne starts a fresh gateway for kind and measures one run against it.
func (b *bench) runOne(ctx context.Context, kind configKind, pair int) (runResult, error) {
	res := runResult{kind: kind, pair: pair}
	dup := kind.duplicates()

	// Everything before the timed window: events, signatures, a clean Redis.
	var events []signedEvent
	prefix := fmt.Sprintf("%s_p%d_%s", b.runTag, pair, kind)
	if dup || kind == configRespond {
		events = makeEvents(b.secret, prefix, 1)
	} else {
		events = makeEvents(b.secret, prefix, b.poolSize(kind))
	}
	redisURL := ""
	if kind.redis() {
		if err := b.redis.command("FLUSHALL", "+OK"); err != nil {
			return res, err
		}
		redisURL = b.redis.url()
		if kind == configRedisUnix {
			redisURL = b.redis.unixURL()
		}
	}

	b.seq++
	store := redisURL
	switch kind {
	case configInbox:
		store = filepath.Join(b.dir, fmt.Sprintf("inbox.%03d.db", b.seq))
	case configInboxNATS:
		store = b.nats.store(b.seq)
	}
	g, err := startGateway(ctx, b.procs, b.bin, b.dir, b.seq, kind, b.up.addr, string(b.secret), store)
	if err != nil {
		return res, err
	}
	defer b.procs.stop(g.proc)
	client := newClient(b.opts.concurrency)
	defer client.CloseIdleConnections()

	// respond ignores the body: one event, repeated, is enough.
	src := &source{events: events, repeat: dup || kind == configRespond}
	expect := expectOK
	if kind.inbox() {
		expect = expectQueued
	}
	if dup {
		// Deliver the event once; from then on every copy is a duplicate.
		if _, bad := send(ctx, client, g.url, &events[0], expectOK); bad != "" {
			return res, fmt.Errorf("first delivery of the duplicate event: %s\n%s", bad, g.logTail(2000))
		}
		expect = expectDuplicate
	}
	if b.opts.warmup > 0 {
		warm := runLoad(ctx, client, g.url, src, b.opts.concurrency, b.opts.warmup, expect)
		if warm.errors > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%d errors in warm-up", warm.errors))
		}
	}
	runtime.GC() // not during the timed window, if it can be helped

	hits0 := b.up.hits.Load()
	var redis0, redis1 int64
	if kind.redis() {
		redis0, _ = cpuTicks(b.redis.cmd.Process.Pid)
	}
	var nats0, nats1 int64
	if kind == configInboxNATS {
		nats0, _ = cpuTicks(b.nats.cmd.Process.Pid)
	}
	var profile <-chan error
	if pair == 1 && slices.Contains(strings.Split(b.opts.cpuProfile, ","), string(kind)) {
		profile = g.cpuProfile(ctx, b.opts.duration, filepath.Join(b.opts.profileDir, "cpu-"+string(kind)+".pprof"))
	}
	var trace *straceAttach
	if b.tracing {
		if trace, err = startStrace(g.cmd.Process.Pid, filepath.Join(b.dir, fmt.Sprintf("strace.%03d.txt", b.seq))); err != nil {
			return res, err
		}
	}
	self0, _ := cpuTicks(os.Getpid())
	cpu0, err := cpuTicks(g.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	ph := runLoad(ctx, client, g.url, src, b.opts.concurrency, b.opts.duration, expect)
	if trace != nil {
		counts, err := trace.counts()
		if err != nil {
			return res, err
		}
		b.syscalls = append(b.syscalls, syscallRun{kind: kind, requests: ph.requests, counts: counts})
		logf("strace %-26s %d requests, %d system calls", kind, ph.requests, sumCalls(counts))
		return res, ctx.Err()
	}
	cpu1, err := cpuTicks(g.cmd.Process.Pid)
	if err != nil {
		return res, fmt.Errorf("gateway gone after the run: %w\n%s", err, g.logTail(2000))
	}
	self1, _ := cpuTicks(os.Getpid())
	if kind.redis() {
		redis1, _ = cpuTicks(b.redis.cmd.Process.Pid)
	}
	if kind == configInboxNATS {
		nats1, _ = cpuTicks(b.nats.cmd.Process.Pid)
	}
	if profile != nil {
		if err := <-profile; err != nil {
			res.notes = append(res.notes, "cpu profile failed: "+oneLine(err.Error()))
		} else {
			res.notes = append(res.notes, "cpu profile written")
		}
	}
	hits1 := b.up.hits.Load()
	if err := ctx.Err(); err != nil {
		return res, err
	}

	res.requests, res.errors, res.errKinds = ph.requests, ph.errors, ph.errKinds
	res.elapsed = ph.elapsed
	res.rps = float64(ph.requests) / ph.elapsed.Seconds()
	res.p50, res.p99 = percentile(ph.latencies, 50), percentile(ph.latencies, 99)
	res.cpuTicks = cpu1 - cpu0
	if ph.requests > 0 {
		res.cpuPerReq = float64(res.cpuTicks) * 1e6 / float64(clockTicks) / float64(ph.requests)
		res.benchCPUPerReq = float64(self1-self0) * 1e6 / float64(clockTicks) / float64(ph.requests)
	}
	res.upstreamHits = hits1 - hits0
	if kind.redis() && ph.requests > 0 {
		res.redisCPUPerReq = float64(redis1-redis0) * 1e6 / float64(clockTicks) / float64(ph.requests)
		res.notes = append(res.notes, fmt.Sprintf("redis-server CPU %.1f µs/req (not in the gateway's)", res.redisCPUPerReq))
	}
	if kind == configInboxNATS && ph.requests > 0 {
		res.notes = append(res.notes, fmt.Sprintf("nats-server CPU %.1f µs/req (not in the gateway's)",
			float64(nats1-nats0)*1e6/float64(clockTicks)/float64(ph.requests)))
	}
	if dup && res.upstreamHits > 0 {
		res.errors += res.upstreamHits
		res.errKinds["upstream contacted for a duplicate"] += res.upstreamHits
	}
	if ph.exhausted {
		res.notes = append(res.notes, fmt.Sprintf("ran out of pre-signed events after %v", ph.elapsed.Round(time.Millisecond)))
	}
	if g.exited() {
		res.notes = append(res.notes, "gateway exited during the run")
	}
	// Size later pools by the fastest run so far.
	b.estimate[kind] = max(b.estimate[kind], res.rps)
	return res, nil
}

// checkRepoRoot makes sure the benchmark runs where ./cmd/scgate resolves.
func checkRepoRoot() error {
	b, err := os.ReadFile("go.mod")
	if err != nil || !strings.Contains(string(b), "module github.com/scgate/scgate\n") {
		return errors.New("run from the repository root: go run ./bench/load")
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
