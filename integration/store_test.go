package integration

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// A full memory store does not block new events: the oldest delivered keys
// make room (counted, and logged at warn level when young), claims in flight
// are never evicted, and only a store holding nothing but claims in flight
// answers 503. The store has its own snapshot file, so it is not the one
// the other tests share.
func TestFullStoreEvictsDeliveredKeysNotClaimsInFlight(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "gateway.log")
	load(t, config(gatewaySite,
		"UPSTREAM", up.Addr,
		"OPTIONS", "dedupe memory {\n\t\t\tmax_keys 2\n\t\t\tpersist "+filepath.Join(dir, "dedupe.snap")+"\n\t\t}",
		"GLOBAL", "log gateway {\n\t\toutput file "+logPath+"\n\t\tformat json\n\t\tinclude http.handlers.screenshotcenter_webhook\n\t}",
	))
	evictions := `scgate_dedupe_evictions_total{store="memory:` + filepath.Join(dir, "dedupe.snap") + `"}`
	before := 0.0
	first := event(t, "screenshot.finished")
	for i, body := range []string{first, event(t, "screenshot.finished"), event(t, "screenshot.finished")} {
		expect(t, "event "+string(rune('1'+i))+" on a store of 2", post(t, body), 200, "")
	}
	if got := scrape(t, evictions); got != before+1 {
		t.Fatalf("evictions counted %v, want %v", got, before+1)
	}
	eventually.Succeeds(t, 10*time.Second, func() error {
		for _, line := range readJSONLines(t, logPath) {
			if line["reason"] == "dedupe_evicted_young" && line["level"] == "warn" {
				return nil
			}
		}
		return errWait("no warn line for the young evicted key")
	})

	// Two events in flight fill the store (evicting the delivered keys);
	// a third is refused until one of them is settled.
	release := make(chan struct{})
	arrived := up.Notify(2)
	up.Respond(func(int, gatewaytest.Request) int { <-release; return 200 })
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		body := event(t, "screenshot.finished")
		go func() { results <- post(t, body) }()
		waitFor(t, arrived)
	}
	got := post(t, event(t, "screenshot.finished"))
	if got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
		t.Errorf("a new event with every key in flight: %d (Retry-After %q), want 503 with Retry-After", got.Status, got.Header.Get("Retry-After"))
	}
	close(release)
	for i := 0; i < 2; i++ {
		expect(t, "an event that was in flight", <-results, 200, "")
	}
	up.Respond(nil)
	expect(t, "a new event once they are settled", post(t, event(t, "screenshot.finished")), 200, "")
}

type errWait string

func (e errWait) Error() string { return string(e) }

// scrape reads one unlabelled series from the admin endpoint's /metrics.
func scrape(t *testing.T, series string) float64 {
	t.Helper()
	return scrapeLine(t, series+" ")
}
