package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/verifier"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0.1, 1}, {99.5, 100}} {
		if got := percentile(s, c.q); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := percentile(s[:1], 99); got != 1 {
		t.Errorf("percentile of one = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v", got)
	}
}

func TestMedian(t *testing.T) {
	in := []float64{5, 1, 3}
	if got := median(in); got != 3 {
		t.Errorf("median odd = %v", got)
	}
	if in[0] != 5 {
		t.Error("median modified its input")
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestParseStatCPU(t *testing.T) {
	// Field 2 may contain spaces and parentheses.
	stat := "1234 (scg ate) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 325 {
		t.Fatalf("parseStatCPU = %d, %v; want 325", got, err)
	}
	if _, err := parseStatCPU([]byte("1234 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

func TestMakeEvents(t *testing.T) {
	secret := []byte("s")
	evs := makeEvents(secret, "t", 3)
	seen := map[string]bool{}
	for _, ev := range evs {
		if len(ev.body) != bodySize {
			t.Errorf("body is %d bytes, want %d", len(ev.body), bodySize)
		}
		if ev.sig != verifier.Sign(secret, ev.body) {
			t.Error("bad signature")
		}
		if seen[string(ev.body)] {
			t.Error("duplicate body")
		}
		seen[string(ev.body)] = true
	}
	if !strings.Contains(string(evs[2].body), `"screenshot_id":"sc_t_2"`) {
		t.Errorf("unexpected body %s", evs[2].body)
	}
}

func TestGatewayConfig(t *testing.T) {
	cfg := gatewayConfig(configRedis, 1, 2, "127.0.0.1:3", "sec", "redis://127.0.0.1:4/0")
	for _, want := range []string{"admin 127.0.0.1:1", "auto_https off", "persist_config off",
		"http://127.0.0.1:2 {", "dedupe redis {", "url redis://127.0.0.1:4/0", "reverse_proxy 127.0.0.1:3"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(gatewayConfig(configBare, 1, 2, "u", "s", ""), "screenshotcenter_webhook") {
		t.Error("bare config has the gateway")
	}
}

func TestConfigKinds(t *testing.T) {
	k := configRedisDup
	if !k.redis() || !k.duplicates() || !configRedisUnix.redis() || configRedisUnix.duplicates() {
		t.Error("redis kinds misclassified")
	}
	if configMemory.redis() || configMemory.duplicates() || !configMemoryDup.duplicates() {
		t.Error("memory kinds misclassified")
	}
	cfg := gatewayConfig(configRespond, 1, 2, "u", "s", "")
	if !strings.Contains(cfg, `respond "`+respondBody+`" 200`) || strings.Contains(cfg, "reverse_proxy") {
		t.Errorf("respond config:\n%s", cfg)
	}
	if !strings.Contains(gatewayConfig(k, 1, 2, "u", "s", "redis://r/0"), "url redis://r/0") {
		t.Error("redis duplicates config has no redis url")
	}
}

func TestInboxConfig(t *testing.T) {
	cfg := gatewayConfig(configInbox, 1, 2, "127.0.0.1:3", "sec", "/tmp/inbox.db")
	for _, want := range []string{"inbox {", "deliver_to http://127.0.0.1:3/", "store /tmp/inbox.db", "concurrency 8"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("gateway-inbox config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "reverse_proxy") || strings.Contains(cfg, "backoff") {
		t.Errorf("gateway-inbox config:\n%s", cfg)
	}
	cfg = gatewayConfig(configInboxNATS, 1, 2, "127.0.0.1:3", "sec", "nats://127.0.0.1:4/BENCH_007")
	for _, want := range []string{"inbox {", "backend nats nats://127.0.0.1:4 {", "stream BENCH_007", "concurrency 8"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("gateway-inbox-nats config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "store ") || !configInboxNATS.inbox() || configMemory.inbox() {
		t.Errorf("gateway-inbox-nats config:\n%s", cfg)
	}
	if got, err := parseConcurrencies("1, 8,32"); err != nil || len(got) != 3 || got[2] != 32 {
		t.Errorf("parseConcurrencies = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "8,x", "2000"} {
		if _, err := parseConcurrencies(bad); err == nil {
			t.Errorf("parseConcurrencies(%q) accepted", bad)
		}
	}
}

func TestParseConfigs(t *testing.T) {
	if ks, err := parseConfigs(""); err != nil || ks != nil {
		t.Errorf(`parseConfigs("") = %v, %v; want every configuration (nil)`, ks, err)
	}
	ks, err := parseConfigs("gateway-memory, gateway-redis")
	if err != nil || len(ks) != 2 || ks[0] != configMemory || ks[1] != configRedis {
		t.Errorf("parseConfigs = %v, %v", ks, err)
	}
	if _, err := parseConfigs("gateway-memroy"); err == nil || !strings.Contains(err.Error(), "gateway-memroy") {
		t.Errorf("a misspelt configuration gave %v", err)
	}
}

func TestParseStraceSummary(t *testing.T) {
	const out = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000600           2       300       120 read
 30.00    0.000300           1       200           write
 10.00    0.000100          50         2         2 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000           2       502       122 total
`
	got, err := parseStraceSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []syscallCount{{"read", 300, 120}, {"write", 200, 0}, {"futex", 2, 2}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := parseStraceSummary("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n"); err == nil {
		t.Error("a summary without calls was accepted")
	}
	md := syscallsMarkdown([]syscallRun{{kind: configBare, requests: 100, counts: want}})
	if !strings.Contains(md, "| bare | 100 | 5.02 | 3.00 (1.20 failed) | 2.00 | 0.02 (0.02 failed) |") {
		t.Errorf("table:\n%s", md)
	}
}
