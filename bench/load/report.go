package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// summary is one configuration's medians and its paired comparison with bare.
type summary struct {
	kind                configKind
	runs                int
	rps, p50, p99, cpu  float64 // medians; latencies in µs, cpu in µs/request
	benchCPU            float64 // median µs/request of the benchmark process
	redisCPU            float64 // median µs/request of redis-server (Redis configurations)
	errors              int64
	rpsRatio, cpuRatio  float64 // median over pairs of run/bare
	cpuDiff             float64 // median over pairs of run-bare, µs/request
	p50Ratio, p99Ratio  float64
	rpsVsRespond        float64 // median over pairs of run/respond
	errKinds            map[string]int64
	notes               []string
	pairedWithBareCount int
}

// target is one line of the targets table.
type target struct {
	what     string
	measured string
	pass     bool
	skipped  string // non-empty: not evaluated, and why
}

// report is everything the Markdown output shows.
type report struct {
	opts      options
	kinds     []configKind
	results   []runResult
	summaries []summary
	targets   []target
	redisNote string
	natsNote  string
	date      time.Time
}

func newReport(opts options, kinds []configKind, results []runResult, redisNote string) *report {
	r := &report{opts: opts, kinds: kinds, results: results, redisNote: redisNote, date: time.Now().UTC()}
	bare := make(map[int]runResult)
	respond := make(map[int]runResult)
	for _, res := range results {
		switch res.kind {
		case configBare:
			bare[res.pair] = res
		case configRespond:
			respond[res.pair] = res
		}
	}
	byKind := make(map[configKind]*summary)
	for _, k := range kinds {
		var rps, p50, p99, cpu, benchCPU, redisCPU, rpsR, cpuR, cpuD, p50R, p99R, rpsResp []float64
		s := &summary{kind: k, errKinds: make(map[string]int64)}
		for _, res := range results {
			if res.kind != k {
				continue
			}
			s.runs++
			s.errors += res.errors
			for e, n := range res.errKinds {
				s.errKinds[e] += n
			}
			rps = append(rps, res.rps)
			p50 = append(p50, us(res.p50))
			p99 = append(p99, us(res.p99))
			cpu = append(cpu, res.cpuPerReq)
			benchCPU = append(benchCPU, res.benchCPUPerReq)
			redisCPU = append(redisCPU, res.redisCPUPerReq)
			if b, ok := bare[res.pair]; ok {
				s.pairedWithBareCount++
				rpsR = append(rpsR, res.rps/b.rps)
				cpuR = append(cpuR, res.cpuPerReq/b.cpuPerReq)
				cpuD = append(cpuD, res.cpuPerReq-b.cpuPerReq)
				p50R = append(p50R, us(res.p50)/us(b.p50))
				p99R = append(p99R, us(res.p99)/us(b.p99))
			}
			if r, ok := respond[res.pair]; ok {
				rpsResp = append(rpsResp, res.rps/r.rps)
			}
		}
		s.rps, s.p50, s.p99, s.cpu = median(rps), median(p50), median(p99), median(cpu)
		s.benchCPU, s.redisCPU = median(benchCPU), median(redisCPU)
		s.rpsRatio, s.cpuRatio, s.cpuDiff = median(rpsR), median(cpuR), median(cpuD)
		s.p50Ratio, s.p99Ratio = median(p50R), median(p99R)
		s.rpsVsRespond = median(rpsResp)
		r.summaries = append(r.summaries, *s)
		byKind[k] = s
	}

	// The targets of issue 21.
	redisSeen := false
	for _, k := range kinds {
		s := byKind[k]
		switch k {
		case configMemory:
			r.targets = append(r.targets,
				ratioTarget("gateway-memory requests/s ≥ 0.95 × bare", s, func(s *summary) float64 { return s.rpsRatio }, 0.95, "%.3f × bare"),
				target{
					what:     "gateway-memory CPU/request ≤ bare + 6 µs",
					measured: fmt.Sprintf("%+.1f µs", s.cpuDiff),
					pass:     s.cpuDiff <= 6,
				})
		case configRedis, configRedisUnix:
			redisSeen = true
			r.targets = append(r.targets,
				ratioTarget(string(k)+" requests/s ≥ 0.75 × bare", s, func(s *summary) float64 { return s.rpsRatio }, 0.75, "%.3f × bare"),
				target{
					what:     string(k) + " CPU/request ≤ bare + 25 µs",
					measured: fmt.Sprintf("%+.1f µs", s.cpuDiff),
					pass:     s.cpuDiff <= 25,
				},
				target{
					what:     string(k) + " redis-server CPU/request ≤ 12 µs",
					measured: fmt.Sprintf("%.1f µs", s.redisCPU),
					pass:     s.redisCPU <= 12,
				},
				target{
					what:     string(k) + " p99 ≤ 1.2 × bare",
					measured: fmt.Sprintf("%.2f × bare", s.p99Ratio),
					pass:     s.p99Ratio <= 1.2,
				})
		case configMemoryDup, configRedisDup:
			r.targets = append(r.targets, ratioTarget(string(k)+" requests/s ≥ 0.9 × respond", s, func(s *summary) float64 { return s.rpsVsRespond }, 0.9, "%.3f × respond"))
		}
	}
	if !redisSeen && strings.HasPrefix(redisNote, "skipped") {
		r.targets = append(r.targets, target{what: "gateway-redis requests/s ≥ 0.75 × bare", skipped: redisNote})
	}
	return r
}

func ratioTarget(what string, s *summary, get func(*summary) float64, min float64, format string) target {
	v := get(s)
	return target{what: what, measured: fmt.Sprintf(format, v), pass: v >= min}
}

func (t target) result() string {
	switch {
	case t.skipped != "":
		return "SKIPPED"
	case t.pass:
		return "PASS"
	default:
		return "MISS"
	}
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("## scgate load benchmark\n\n")
	w("- Date: %s\n", r.date.Format(time.RFC3339))
	w("- Command: `%s`\n", commandLine())
	w("- Machine: %d CPUs (nproc), %s, Linux %s, %s\n", runtime.NumCPU(), cpuModel(), kernel(), runtime.Version())
	if rev := gitRevision(); rev != "" {
		w("- Tree: %s\n", rev)
	}
	w("- Runs: %d pairs, each one run of %s in this order; every run on a fresh gateway process, %v timed after a %v warm-up, %d concurrent keep-alive clients, %d-byte signed bodies (a unique screenshot_id per request, signed before the run; the duplicates run repeats one delivered event)\n",
		r.opts.pairs, joinKinds(r.kinds), r.opts.duration, r.opts.warmup, r.opts.concurrency, bodySize)
	w("- gateway-redis: %s\n", r.redisNote)
	if r.natsNote != "" {
		w("- gateway-inbox-nats: %s\n", r.natsNote)
	}
	w("- CPU: utime+stime of the gateway process over the timed window (clock tick %d ms); the load generator and the upstream share the machine\n\n", 1000/clockTicks)

	w("| Configuration | Runs | req/s | p50 | p99 | CPU µs/req | Errors | req/s vs bare | CPU vs bare | p50 vs bare | p99 vs bare | Bench CPU µs/req | redis-server CPU µs/req | req/s vs respond |\n")
	w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.summaries {
		rel := "| — | — | — | — |"
		if s.kind != configBare && s.pairedWithBareCount > 0 {
			rel = fmt.Sprintf("| %.3f × | %+.1f µs (%.2f ×) | %.2f × | %.2f × |", s.rpsRatio, s.cpuDiff, s.cpuRatio, s.p50Ratio, s.p99Ratio)
		}
		rel += fmt.Sprintf(" %.1f |", s.benchCPU)
		if s.kind.redis() {
			rel += fmt.Sprintf(" %.1f |", s.redisCPU)
		} else {
			rel += " — |"
		}
		if s.kind != configRespond && !math.IsNaN(s.rpsVsRespond) {
			rel += fmt.Sprintf(" %.3f × |", s.rpsVsRespond)
		} else {
			rel += " — |"
		}
		w("| %s | %d | %.0f | %s | %s | %.1f | %d %s\n", s.kind, s.runs, s.rps, fmtUS(s.p50), fmtUS(s.p99), s.cpu, s.errors, rel)
	}
	if line := r.inboxPair(); line != "" {
		w("\n%s\n", line)
	}
	w("\nMedians over the runs; the \"vs bare\" columns are medians of each pair's ratio (or difference) to the bare run of the same pair. CPU is the gateway process's; Bench CPU is the benchmark's own (load generator and in-process upstream) on the same cores.\n\n")

	w("| Target | Measured | Result |\n|---|--:|---|\n")
	for _, t := range r.targets {
		m := t.measured
		if t.skipped != "" {
			m = "—"
		}
		w("| %s | %s | %s |\n", t.what, m, t.result())
	}

	var errLines []string
	for _, s := range r.summaries {
		keys := make([]string, 0, len(s.errKinds))
		for k := range s.errKinds {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			errLines = append(errLines, fmt.Sprintf("- %s: %d × %s", s.kind, s.errKinds[k], k))
		}
	}
	if len(errLines) > 0 {
		w("\nErrors (answers other than the expected one: 200, or 202 queued for the inbox configurations):\n\n%s\n", strings.Join(errLines, "\n"))
	}

	w("\n<details><summary>All runs</summary>\n\n")
	w("| Pair | Configuration | Requests | Seconds | req/s | p50 | p99 | CPU ticks | CPU µs/req | Bench CPU µs/req | Upstream hits | Errors | Notes |\n")
	w("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, res := range r.results {
		w("| %d | %s | %d | %.2f | %.0f | %s | %s | %d | %.1f | %.1f | %d | %d | %s |\n",
			res.pair, res.kind, res.requests, res.elapsed.Seconds(), res.rps, fmtDur(res.p50), fmtDur(res.p99),
			res.cpuTicks, res.cpuPerReq, res.benchCPUPerReq, res.upstreamHits, res.errors, strings.Join(res.notes, "; "))
	}
	w("\nCPU µs/req is the gateway process's; Bench CPU µs/req is the benchmark's own (load generator and upstream), which runs on the same cores: when it is comparable to the gateway's, requests/s measures the machine rather than the gateway.\n")
	w("\n</details>\n")
	return b.String()
}

func joinKinds(ks []configKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// fmtUS formats a latency in µs as ms with three decimals.
func fmtUS(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.3f ms", v/1000)
}

func fmtDur(d time.Duration) string { return fmtUS(us(d)) }

// commandLine is the command that reproduces this run.
func commandLine() string {
	parts := []string{"go", "run", "./bench/load"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\*?;&|<>()") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// gitRevision describes the tree the binary was built from, "" if unknown.
func gitRevision() string {
	return commandOutput("git", "describe", "--always", "--dirty")
}

// redisVersion is redis-server's version line, shortened.
func redisVersion() string {
	v := commandOutput("redis-server", "--version")
	if f := strings.Fields(v); len(f) >= 3 {
		return strings.TrimPrefix(f[2], "v=")
	}
	return v
}

// commandOutput runs a short command and returns its trimmed output, or "".
func commandOutput(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// inboxPair compares gateway-inbox-nats with gateway-inbox of the same
// pairs: the medians of each pair's ratios of queued events/s and of the
// 202's p50 and p99; "" when either did not run.
func (r *report) inboxPair() string {
	bolt := make(map[int]runResult)
	for _, res := range r.results {
		if res.kind == configInbox {
			bolt[res.pair] = res
		}
	}
	var rps, p50, p99 []float64
	for _, res := range r.results {
		b, ok := bolt[res.pair]
		if res.kind != configInboxNATS || !ok || b.rps == 0 {
			continue
		}
		rps = append(rps, res.rps/b.rps)
		p50 = append(p50, us(res.p50)/us(b.p50))
		p99 = append(p99, us(res.p99)/us(b.p99))
	}
	if len(rps) == 0 {
		return ""
	}
	return fmt.Sprintf("gateway-inbox-nats against gateway-inbox, median over %d pairs of each pair's ratio: queued events/s %.2f ×, p50 of the 202 %.2f ×, p99 %.2f ×.",
		len(rps), median(rps), median(p50), median(p99))
}
