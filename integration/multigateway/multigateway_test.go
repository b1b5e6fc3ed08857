// Package multigateway_test runs real scgate processes against a real,
// private redis-server: two gateways behind a (virtual) load balancer
// sharing one Redis, Redis going away and coming back, and a memory store
// persisted across a graceful restart.
package multigateway_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/redistest"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

const secret = "e2e-multigateway-secret"

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

// redisGateway starts a gateway using the redis backend at url, in front of
// up, with the given on_error.
func redisGateway(t *testing.T, url string, up *gatewaytest.Upstream, onError string) *gatewaytest.Gateway {
	t.Helper()
	return gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
			admin {{ADMIN_ADDR}}
			persist_config off
			auto_https off
		}
		http://127.0.0.1:{{HTTP_PORT}} {
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
				dedupe redis {
					url {env.SCGATE_E2E_REDIS_URL}
					key_prefix e2e:
					on_error ` + onError + `
				}
			}
			reverse_proxy ` + up.Addr + `
		}`,
		Env: []string{"SCGATE_E2E_SECRET=" + secret, "SCGATE_E2E_REDIS_URL=" + url},
	})
}

// deliver posts a signed event to gw, as the sender does.
func deliver(t *testing.T, gw *gatewaytest.Gateway, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, gw.URL+"/webhook", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST to %s: %v", gw.URL, err)
	}
	resp.Body.Close()
	return resp
}

// outcome describes a gateway answer: "forwarded" (the upstream's 200),
// the gateway's own outcome ("duplicate"), or "status N".
func outcome(resp *http.Response) string {
	if o := resp.Header.Get("X-Scgate-Outcome"); o != "" {
		return o
	}
	if resp.StatusCode == http.StatusOK {
		return "forwarded"
	}
	return "status " + strconv.Itoa(resp.StatusCode)
}

func eventBody(id int) string {
	return `{"event":"screenshot.finished","screenshot_id":` + strconv.Itoa(id) + `,"created_at":"2026-01-01T00:00:00Z"}`
}

func TestRedisSharedAcrossGateways(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	a := redisGateway(t, srv.URL(), up, "closed")
	b := redisGateway(t, srv.URL(), up, "closed")

	if got := outcome(deliver(t, a, eventBody(1))); got != "forwarded" {
		t.Fatalf("first delivery through a: %s", got)
	}
	if got := outcome(deliver(t, b, eventBody(1))); got != "duplicate" {
		t.Errorf("retry through b: %s, want duplicate", got)
	}
	if got := outcome(deliver(t, a, eventBody(1))); got != "duplicate" {
		t.Errorf("retry through a: %s, want duplicate", got)
	}
	if got := outcome(deliver(t, b, eventBody(2))); got != "forwarded" {
		t.Errorf("another event through b: %s, want forwarded", got)
	}
	if n := up.Count(); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}

	// A restarted gateway still knows the event.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	a2 := redisGateway(t, srv.URL(), up, "closed")
	if got := outcome(deliver(t, a2, eventBody(1))); got != "duplicate" {
		t.Errorf("retry through a restarted gateway: %s, want duplicate", got)
	}
}

// TestRedisConcurrentCopies: 50 copies of one event, sent at once and split
// across two gateways, reach the upstream exactly once. The upstream holds
// the one it gets until every other copy has been answered, so all of them
// meet the claim while it is in flight.
func TestRedisConcurrentCopies(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	release := make(chan struct{})
	up.Respond(func(n int, req gatewaytest.Request) int {
		<-release
		return http.StatusOK
	})
	gws := []*gatewaytest.Gateway{
		redisGateway(t, srv.URL(), up, "closed"),
		redisGateway(t, srv.URL(), up, "closed"),
	}

	const copies = 50
	body := eventBody(42)
	results := make(chan string, copies)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < copies; i++ {
		wg.Add(1)
		go func(gw *gatewaytest.Gateway) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, gw.URL+"/webhook", strings.NewReader(body))
			req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), []byte(body)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- "error " + err.Error()
				return
			}
			resp.Body.Close()
			results <- outcome(resp)
		}(gws[i%2])
	}
	close(start)

	counts := map[string]int{}
	timeout := time.After(60 * time.Second)
	for got := 0; got < copies-1; got++ {
		select {
		case r := <-results:
			counts[r]++
		case <-timeout:
			t.Errorf("only %d of %d copies answered while one was held upstream: %v", got, copies-1, counts)
			got = copies
		}
	}
	close(release)
	wg.Wait()
	close(results)
	for r := range results {
		counts[r]++
	}
	if n := up.Count(); n != 1 {
		t.Fatalf("upstream got %d copies, want exactly 1 (answers: %v)", n, counts)
	}
	if counts["forwarded"] != 1 || counts["status 409"] != copies-1 {
		t.Errorf("answers %v: want 1 forwarded and %d in flight (409)", counts, copies-1)
	}
	// Later retries, through either gateway, are duplicates.
	for _, gw := range gws {
		if got := outcome(deliver(t, gw, body)); got != "duplicate" {
			t.Errorf("retry after delivery: %s, want duplicate", got)
		}
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream got %d copies after retries, want 1", n)
	}
}

// TestRedisDownClosed: with Redis stopped, on_error closed answers 503 with
// Retry-After and forwards nothing; once Redis is back on the same port, the
// sender's retry is forwarded, once.
func TestRedisDownClosed(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	gw := redisGateway(t, srv.URL(), up, "closed")
	if got := outcome(deliver(t, gw, eventBody(1))); got != "forwarded" {
		t.Fatalf("delivery with Redis up: %s", got)
	}

	srv.Stop()
	resp := deliver(t, gw, eventBody(2))
	if got := outcome(resp); got != "status 503" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("delivery with Redis down: %s (Retry-After %q), want 503 with Retry-After", got, resp.Header.Get("Retry-After"))
	}
	if n := up.Count(); n != 1 {
		t.Fatalf("upstream got %d requests with Redis down, want only the earlier 1", n)
	}
	if !gw.WaitOutput("dedupe claim failed", 10*time.Second) {
		t.Error("no error logged for the failed claim")
	}

	srv.Restart()
	// The sender retries until it is answered 2xx.
	var got string
	eventually.Succeeds(t, 30*time.Second, func() error {
		if got = outcome(deliver(t, gw, eventBody(2))); got == "status 503" {
			return errors.New("still 503")
		}
		return nil
	})
	if got != "forwarded" {
		t.Fatalf("retry after Redis is back: %s, want forwarded", got)
	}
	if got := outcome(deliver(t, gw, eventBody(2))); got != "duplicate" {
		t.Errorf("next retry: %s, want duplicate", got)
	}
	if n := up.Count(); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
}

// TestRedisCommitRetriedAfterOutage: Redis dies between the claim of an
// event and its commit (the upstream holds the event until Redis is
// stopped). The upstream accepted it, so the gateway keeps the commit and
// writes it, with the claim's token, once Redis is back: the sender's retry
// through another gateway is then a duplicate, not a second delivery, and
// the first gateway answers copies as duplicates even while Redis is down
// (issue 11).
func TestRedisCommitRetriedAfterOutage(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	held, release := make(chan struct{}), make(chan struct{})
	up.Respond(func(n int, req gatewaytest.Request) int {
		if n == 0 {
			close(held)
			<-release
		}
		return http.StatusOK
	})
	a := redisGateway(t, srv.URL(), up, "closed")
	b := redisGateway(t, srv.URL(), up, "closed")

	body := eventBody(7)
	first := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/webhook", strings.NewReader(body))
		req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- "error " + err.Error()
			return
		}
		resp.Body.Close()
		first <- outcome(resp)
	}()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the event never reached the upstream")
	}
	srv.Stop()
	close(release)
	if got := <-first; got != "forwarded" {
		t.Fatalf("first delivery: %s, want forwarded (the upstream accepted it)", got)
	}
	// a delivered it: a copy reaching a while Redis is still down is a
	// duplicate, not a 503.
	if got := outcome(deliver(t, a, body)); got != "duplicate" {
		t.Errorf("copy through a with Redis down: %s, want duplicate", got)
	}

	srv.Restart() // empty: the claim went with the old process
	// A first retry may come while the new server is still starting and
	// fail again: wait for the one that committed.
	if !a.WaitOutput(`"committed":1`, 30*time.Second) {
		t.Fatalf("a did not retry its commit; output:\n%s", a.Output())
	}
	var got string
	eventually.Succeeds(t, 30*time.Second, func() error {
		if got = outcome(deliver(t, b, body)); got == "status 503" {
			return errors.New("b still answers 503")
		}
		return nil
	})
	if got != "duplicate" {
		t.Errorf("the sender's retry through b after Redis is back: %s, want duplicate", got)
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream got %d copies, want exactly 1", n)
	}
	// The Redis client writes nothing of its own: every line is Caddy's
	// JSON log (the store's messages go through its zap logger).
	for _, gw := range []*gatewaytest.Gateway{a, b} {
		for _, line := range strings.Split(strings.TrimSpace(gw.Output()), "\n") {
			if !strings.HasPrefix(line, "{") {
				t.Errorf("a line outside the JSON log: %q", line)
			}
		}
	}
}

// TestRedisDownOpen: with Redis stopped, on_error open forwards and says so
// loudly.
func TestRedisDownOpen(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	gw := redisGateway(t, srv.URL(), up, "open")
	srv.Stop()
	if got := outcome(deliver(t, gw, eventBody(1))); got != "forwarded" {
		t.Fatalf("delivery with Redis down, on_error open: %s, want forwarded", got)
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
	if !gw.WaitOutput("WITHOUT dedupe", 10*time.Second) {
		t.Error("forwarding without dedupe was not logged")
	}
}

// memoryGateway runs a gateway with the memory store persisted to snapshot,
// and extra lines in its dedupe block.
func memoryGateway(t *testing.T, snapshot string, up *gatewaytest.Upstream, extra ...string) *gatewaytest.Gateway {
	t.Helper()
	return gatewaytest.Start(t, memoryOptions(snapshot, up, extra...))
}

// memoryOptions are the options of memoryGateway.
func memoryOptions(snapshot string, up *gatewaytest.Upstream, extra ...string) gatewaytest.Options {
	return gatewaytest.Options{
		Config: `{
			admin {{ADMIN_ADDR}}
			persist_config off
			auto_https off
		}
		http://127.0.0.1:{{HTTP_PORT}} {
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
				dedupe memory {
					persist ` + snapshot + `
					persist_interval 1h
					` + strings.Join(extra, "\n") + `
				}
			}
			reverse_proxy ` + up.Addr + `
		}`,
		Env: []string{"SCGATE_E2E_SECRET=" + secret},
	}
}

// A gateway restarted with a max_keys smaller than its snapshot keeps the
// newest keys, as its eviction would: their retries are duplicates, the
// oldest event's retry is forwarded again.
func TestMemorySnapshotIntoSmallerMaxKeys(t *testing.T) {
	snapshot := filepath.Join(t.TempDir(), "dedupe.snap")
	up := gatewaytest.NewUpstream(t)
	gw := memoryGateway(t, snapshot, up)
	for id := 1; id <= 5; id++ {
		if got := outcome(deliver(t, gw, eventBody(id))); got != "forwarded" {
			t.Fatalf("delivery %d: %s", id, got)
		}
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}

	gw = memoryGateway(t, snapshot, up, "max_keys 2")
	for _, id := range []int{5, 4} {
		if got := outcome(deliver(t, gw, eventBody(id))); got != "duplicate" {
			t.Errorf("retry of event %d (of the newest two) after a restart with max_keys 2: %s, want duplicate", id, got)
		}
	}
	if got := outcome(deliver(t, gw, eventBody(1))); got != "forwarded" {
		t.Errorf("retry of the oldest event: %s, want forwarded (not kept)", got)
	}
}

// TestMemoryPersistAcrossRestart: a gateway stopped with SIGTERM writes its
// snapshot; started again, it answers the retry as a duplicate.
func TestMemoryPersistAcrossRestart(t *testing.T) {
	snapshot := filepath.Join(t.TempDir(), "dedupe.snap")
	up := gatewaytest.NewUpstream(t)

	gw := memoryGateway(t, snapshot, up)
	if got := outcome(deliver(t, gw, eventBody(1))); got != "forwarded" {
		t.Fatalf("first delivery: %s", got)
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if code := gw.ExitCode(); code != 0 {
		t.Fatalf("gateway exit code %d after SIGTERM\n%s", code, gw.Output())
	}
	if _, err := os.Stat(snapshot); err != nil {
		t.Fatalf("no snapshot after a graceful stop: %v\n%s", err, gw.Output())
	}

	gw = memoryGateway(t, snapshot, up)
	if got := outcome(deliver(t, gw, eventBody(1))); got != "duplicate" {
		t.Errorf("retry after restart: %s, want duplicate", got)
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream got %d requests, want 1", n)
	}
}

// A snapshot that cannot be loaded (truncated, garbage, zero-length) is a
// config error through the built binary: `scgate run` exits 1 with an
// error that names the file and what to do, never a panic, and never
// starts with an empty store in its place; a running gateway refuses a
// reload onto it and keeps serving; the file is left as it was. `scgate
// validate` opens no snapshot, so it does not see the damage. Moved aside
// as the error says, the gateway starts empty.
func TestDamagedSnapshotIsAConfigError(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	good := filepath.Join(t.TempDir(), "good.snap")
	gw := memoryGateway(t, good, up)
	for id := 1; id <= 3; id++ {
		deliver(t, gw, eventBody(id))
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	running := memoryGateway(t, filepath.Join(t.TempDir(), "running.snap"), up)

	for i, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", data[:len(data)/2], "truncated"},
		{"garbage", bytes.Repeat([]byte{0xA5}, 256), "no snapshot header"},
		{"zero-length", []byte{}, "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dedupe.snap")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(what, output string) {
				t.Helper()
				if strings.Contains(output, "panic") || strings.Contains(output, "fatal error") {
					t.Fatalf("%s: the process panicked:\n%s", what, output)
				}
				for _, want := range []string{
					path + ": dedupe snapshot is corrupt: " + tc.want,
					"move it aside (e.g. mv " + path + " " + path + ".damaged) or delete it to start with an empty memory store",
				} {
					if !strings.Contains(output, want) {
						t.Errorf("%s: the output does not say %q:\n%s", what, want, output)
					}
				}
			}

			g, err := gatewaytest.Launch(t, memoryOptions(path, up))
			if err == nil {
				t.Fatal("scgate run started with a damaged snapshot")
			}
			check("run", g.Output())
			if code := g.ExitCode(); code != 1 {
				t.Errorf("run exited %d, want 1", code)
			}

			stdout, stderr, code := gatewaytest.Run(t, []string{"SCGATE_E2E_SECRET=" + secret}, "validate", "--config", filepath.Join(g.Dir, "Caddyfile"))
			if code != 0 || strings.Contains(stdout+stderr, path) {
				t.Errorf("validate exited %d, want 0 without a word of the snapshot (it opens none):\n%s%s", code, stdout, stderr)
			}

			if err := running.Reload(memoryOptions(path, up).Config); err == nil {
				t.Fatal("a reload onto a damaged snapshot was accepted")
			} else {
				check("reload", err.Error())
			}
			if got := outcome(deliver(t, running, eventBody(100+i))); got != "forwarded" {
				t.Fatalf("the running gateway after the refused reload: %s", got)
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, tc.data) {
				t.Fatalf("the damaged file was changed (%v)", err)
			}

			if err := os.Rename(path, path+".damaged"); err != nil {
				t.Fatal(err)
			}
			fresh := memoryGateway(t, path, up)
			if got := outcome(deliver(t, fresh, eventBody(1))); got != "forwarded" {
				t.Errorf("after moving the snapshot aside: %s, want forwarded (nothing remembered)", got)
			}
		})
	}
}

// TestReloadHandsOverQueuedCommits: a commit queued while Redis is down
// survives a reload that changes the Redis settings (a new store): the
// old store hands it to the new one, which writes it once Redis is back,
// so the sender's retry through another gateway is a duplicate (issue 16).
func TestReloadHandsOverQueuedCommits(t *testing.T) {
	srv := redistest.Start(t)
	up := gatewaytest.NewUpstream(t)
	held, release := make(chan struct{}), make(chan struct{})
	up.Respond(func(n int, req gatewaytest.Request) int {
		if n == 0 {
			close(held)
			<-release
		}
		return http.StatusOK
	})
	config := func(timeout string) string {
		return `{
			admin {{ADMIN_ADDR}}
			persist_config off
			auto_https off
		}
		http://127.0.0.1:{{HTTP_PORT}} {
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
				dedupe redis {
					url {env.SCGATE_E2E_REDIS_URL}
					key_prefix e2e:
					timeout ` + timeout + `
				}
			}
			reverse_proxy ` + up.Addr + `
		}`
	}
	a := gatewaytest.Start(t, gatewaytest.Options{
		Config: config("250ms"),
		Env:    []string{"SCGATE_E2E_SECRET=" + secret, "SCGATE_E2E_REDIS_URL=" + srv.URL()},
	})
	b := redisGateway(t, srv.URL(), up, "closed")

	body := eventBody(8)
	first := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/webhook", strings.NewReader(body))
		req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- "error " + err.Error()
			return
		}
		resp.Body.Close()
		first <- outcome(resp)
	}()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the event never reached the upstream")
	}
	srv.Stop()
	close(release)
	if got := <-first; got != "forwarded" {
		t.Fatalf("first delivery: %s, want forwarded (the upstream accepted it)", got)
	}
	if err := a.Reload(config("400ms")); err != nil {
		t.Fatalf("reload with a new Redis timeout: %v", err)
	}
	if !a.WaitOutput("queued dedupe commits handed to the store of the new config", 10*time.Second) {
		t.Errorf("no log line of the old store handing over its queued commit")
	}

	srv.Restart()
	if !a.WaitOutput(`"committed":1`, 30*time.Second) {
		t.Fatalf("the new store did not write the handed-over commit; output:\n%s", a.Output())
	}
	var got string
	eventually.Succeeds(t, 30*time.Second, func() error {
		if got = outcome(deliver(t, b, body)); got == "status 503" {
			return errors.New("b still answers 503")
		}
		return nil
	})
	if got != "duplicate" {
		t.Errorf("the sender's retry through b after Redis is back: %s, want duplicate", got)
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream got %d copies, want exactly 1", n)
	}
}
