package screenshotcenterwebhook

import (
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/redistest"
)

// TestProvisionRedisSentinel: a Caddyfile naming Sentinels and a master
// name dedupes through the master those Sentinels report.
func TestProvisionRedisSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Sentinels: 3})
	// timeout: generous, as the race detector on a busy CI machine slows
	// the first claim (Sentinel query, master dial, script load).
	h, err := parse(t, `screenshotcenter_webhook {
		secret s
		dedupe redis {
			addresses `+strings.Join(s.Addrs(), " ")+`
			master_name `+redistest.MasterName+`
			timeout 5s
		}
	}`)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if r := h.Dedupe.Redis; r == nil || r.MasterName != redistest.MasterName || len(r.Addresses) != 3 {
		t.Fatalf("parsed redis settings %+v", r)
	}
	if err := provision(t, h); err != nil {
		t.Fatalf("provision: %v", err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":42}`
	if got, _ := serveHeaders(t, h, "s", body); got != "forwarded" {
		t.Fatalf("first delivery: %s, want forwarded", got)
	}
	if got, _ := serveHeaders(t, h, "s", body); got != "duplicate" {
		t.Fatalf("retry: %s, want duplicate", got)
	}
	// The done key is on the master, under the default prefix.
	keys, err := s.Master.Do("KEYS", "*")
	if err != nil || !strings.HasPrefix(keys, DefaultKeyPrefix) || strings.Contains(keys, "\n") {
		t.Fatalf("keys on the master: %q (%v), want one %s key", keys, err, DefaultKeyPrefix)
	}
}
