package screenshotcenterwebhook

import (
	"strconv"
	"testing"

	"github.com/scgate/scgate/dedupe"
)

// A literal brace in a secret is written \{ and resolves to the brace.
func TestSecretWithEscapedBraces(t *testing.T) {
	h := &Handler{Secrets: []string{`a\{b\}c`}, Dedupe: &DedupeConfig{Backend: BackendOff}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":"sc_escaped"}`
	if got := serve(t, h, "a{b}c", body); got != "forwarded" {
		t.Fatalf("signed with the literal secret: %s", got)
	}
}

// The memory store is shared by every config of the process; a config that
// is provisioned but never serves (it failed to load) must not change the
// running one's max_keys.
func TestMaxKeysAppliesWhenAConfigServes(t *testing.T) {
	live := &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{MaxKeys: 1 << 20}}
	if err := provision(t, live); err != nil {
		t.Fatal(err)
	}
	body := func(i int) string {
		return `{"event":"screenshot.finished","screenshot_id":"sc_bound_` + t.Name() + strconv.Itoa(i) + `"}`
	}
	if got := serve(t, live, "s", body(0)); got != "forwarded" {
		t.Fatalf("first event: %s", got)
	}
	// Other tests may share the process-wide store: restore its bound.
	t.Cleanup(func() { live.store.(*dedupe.MemoryStore).SetMaxKeys(dedupe.DefaultMaxKeys) })
	rejected := &Handler{Secrets: []string{"s"}, Dedupe: &DedupeConfig{MaxKeys: 1}}
	if err := provision(t, rejected); err != nil {
		t.Fatal(err)
	}
	if got := serve(t, live, "s", body(1)); got != "forwarded" {
		t.Fatalf("after a config with max_keys 1 was provisioned but never served: %s", got)
	}
	// Once that config serves, its bound applies (the store already holds
	// more than one key, so a new event is refused).
	if got := serve(t, rejected, "s", body(2)); got != "status 503" {
		t.Fatalf("with max_keys 1 applied: %s, want status 503", got)
	}
}
