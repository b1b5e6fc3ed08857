package screenshotcentersender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/sender"
)

const lifecycleBody = `{"event":"screenshot.finished","screenshot_id":"sc_life"}`

// `scgate validate` provisions the handlers and cleans them up without
// starting the config: against a store with pending deliveries and a
// purgeable one (retain 1ms), nothing is sent, leased or purged.
func TestValidateHasNoSideEffects(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	store := filepath.Join(t.TempDir(), "outbox.db")

	// A gone delivery (purgeable with retain 1ms), then pending ones.
	ob, err := sender.OpenOutbox(store, sender.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sender.NewClient(sender.ClientOptions{Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := sender.NewDelivery(gone.URL, "screenshot.finished", []byte(lifecycleBody), []byte("lifecycle-secret-0123456789"), time.Now())
	if err := ob.Enqueue(g); err != nil {
		t.Fatal(err)
	}
	s, err := sender.New(ob, sender.Options{Client: c, Retain: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	eventually.Succeeds(t, waitTimeout, func() error {
		if d, _, err := ob.Get(g.ID); err != nil || d.State != sender.StateGone {
			return fmt.Errorf("the 410 delivery did not end gone: %+v, %v", d, err)
		}
		return nil
	})
	cancel()
	<-ran
	var pending []string
	for range 3 {
		d, _ := sender.NewDelivery(up.URL+"/hook", "screenshot.finished", []byte(lifecycleBody), []byte("lifecycle-secret-0123456789"), time.Now())
		if err := ob.Enqueue(d); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, d.ID)
	}
	before, _ := ob.Count()
	ob.Close()

	file := filepath.Join(t.TempDir(), "Caddyfile")
	cfg := `{
	admin off
	persist_config off
}
http://127.0.0.1:` + strconv.Itoa(gatewaytest.FreePort(t)) + ` {
	screenshotcenter_sender {
		endpoint ` + up.URL + `/hook {
			secret {env.SC_SECRET1}
		}
		store ` + store + `
		allow 127.0.0.0/8
		retain 1ms
	}
}`
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := scgate(t, []string{"SC_SECRET1=" + secret1}, "validate", "--config", file, "--adapter", "caddyfile")
	if code != 0 || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("validate (%d):\n%s", code, out)
	}
	for _, bad := range []string{"interrupted", "purged", "delivery attempt"} {
		if strings.Contains(out, bad) {
			t.Errorf("validate logged %q:\n%s", bad, out)
		}
	}

	ob, err = sender.OpenOutbox(store, sender.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	after, _ := ob.Count()
	if len(after) != len(before) || after[sender.StatePending] != 3 || after[sender.StateGone] != 1 {
		t.Errorf("store counts %v after validate, want %v", after, before)
	}
	if n, err := ob.RecoverLeases(time.Now()); n != 0 || err != nil {
		t.Errorf("validate left %d leases (%v)", n, err)
	}
	if _, _, err := ob.Get(g.ID); err != nil {
		t.Errorf("validate purged the gone delivery: %v", err)
	}
	for _, id := range pending {
		d, log, err := ob.Get(id)
		if err != nil || d.Attempts != 0 || len(log) != 0 || d.State != sender.StatePending {
			t.Errorf("pending delivery after validate: %+v, %d log entries, %v", d, len(log), err)
		}
	}
	if n := up.Count(); n != 0 {
		t.Errorf("validate sent %d requests", n)
	}
}

// A reload that Caddy rejects (a valid handler with new settings next to
// an invalid one) leaves the running sender as it was: the SSRF guard
// still refuses the endpoint, the backoff is still 1h.
func TestRejectedReloadKeepsSettings(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.Respond(func(int, gatewaytest.Request) int { return http.StatusInternalServerError })
	store := filepath.Join(t.TempDir(), "outbox.db")
	// Endpoint 0 is allowed (127.0.0.1/32) and answers 500; endpoint 1
	// (127.0.0.2) is refused by the guard.
	other := strings.Replace(up.URL, "127.0.0.1", "127.0.0.2", 1)
	config := func(settings, more string) string {
		return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	` + more + `
	screenshotcenter_sender {
		endpoint ` + up.URL + `/hook {
			secret {env.SC_SECRET1}
		}
		endpoint ` + other + `/hook {
			secret {env.SC_SECRET1}
		}
		store ` + store + `
		attempts 3
		` + settings + `
	}
}`
	}
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: config("allow 127.0.0.1/32\n\t\tbackoff 1h\n\t\tretain 1h", ""),
		Env:    []string{"SC_SECRET1=" + secret1},
	})
	bad := `handle /bad {
		screenshotcenter_sender {
			store ` + store + `
		}
	}`
	if err := gw.Reload(config("allow_private\n\t\tbackoff 10ms\n\t\tretain 1ms", bad)); err == nil {
		t.Fatal("a reload with an invalid handler was accepted")
	}

	code, resp := post(t, gw.URL+"/", "application/json", lifecycleBody)
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	var acc struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(resp), &acc); err != nil || len(acc.Deliveries) != 2 {
		t.Fatalf("202 body %s (%v)", resp, err)
	}
	allowed := waitDelivery(t, gw, acc.Deliveries[0].ID, func(d *sender.Delivery) bool { return d.Attempts == 1 && d.LastStatus == 500 })
	if wait := time.Until(allowed.NextAttempt); allowed.State != sender.StatePending || wait < 30*time.Minute {
		t.Errorf("after a 500: %s, next attempt in %v; want pending in ~1h (the running backoff)", allowed.State, wait)
	}
	refused := waitDelivery(t, gw, acc.Deliveries[1].ID, func(d *sender.Delivery) bool { return d.State != sender.StatePending })
	if refused.State != sender.StateFailed || !strings.Contains(refused.LastError, "not allowed") {
		t.Errorf("delivery to 127.0.0.2: %s %q; want failed by the SSRF guard", refused.State, refused.LastError)
	}
	if n := up.Count(); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

// waitDelivery polls the admin API until delivery id satisfies ok.
func waitDelivery(t *testing.T, gw *gatewaytest.Gateway, id string, ok func(*sender.Delivery) bool) *sender.Delivery {
	t.Helper()
	var d *sender.Delivery
	eventually.Succeeds(t, waitTimeout, func() error {
		code, body := adminDo(t, http.MethodGet, gw.AdminURL+"/scgate/deliveries/"+id)
		var ans struct {
			Delivery *sender.Delivery `json:"delivery"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &ans) != nil || ans.Delivery == nil || !ok(ans.Delivery) {
			return fmt.Errorf("delivery %s: %d %s", id, code, body)
		}
		d = ans.Delivery
		return nil
	})
	return d
}

// Two handlers on one store, one with allow_private: the other keeps its
// SSRF guard, so its delivery to 127.0.0.1 is refused, whichever handler
// was loaded last.
func TestSharedStoreKeepsEachGuard(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	handler := func(path, extra string) string {
		return `handle ` + path + ` {
		screenshotcenter_sender {
			endpoint ` + up.URL + path + ` {
				secret {env.SC_SECRET1}
			}
			store ` + store + `
			` + extra + `
		}
	}`
	}
	for _, order := range []string{"open first", "open last"} {
		t.Run(order, func(t *testing.T) {
			up.Reset()
			hs := []string{handler("/guarded", ""), handler("/open", "allow_private")}
			if order == "open first" {
				hs[0], hs[1] = hs[1], hs[0]
			}
			gw := gatewaytest.Start(t, gatewaytest.Options{
				Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	` + hs[0] + `
	` + hs[1] + `
}`,
				Env: []string{"SC_SECRET1=" + secret1},
			})
			ids := map[string]string{}
			for _, path := range []string{"/guarded", "/open"} {
				code, resp := post(t, gw.URL+path, "application/json", lifecycleBody)
				var acc struct {
					Deliveries []struct{ ID string } `json:"deliveries"`
				}
				if code != http.StatusAccepted || json.Unmarshal([]byte(resp), &acc) != nil || len(acc.Deliveries) != 1 {
					t.Fatalf("POST %s = %d %s", path, code, resp)
				}
				ids[path] = acc.Deliveries[0].ID
			}
			final := func(d *sender.Delivery) bool { return d.State != sender.StatePending }
			if d := waitDelivery(t, gw, ids["/open"], final); d.State != sender.StateDelivered {
				t.Errorf("allow_private handler's delivery: %s %q", d.State, d.LastError)
			}
			d := waitDelivery(t, gw, ids["/guarded"], final)
			if d.State != sender.StateFailed || !strings.Contains(d.LastError, "not allowed") {
				t.Errorf("guarded handler's delivery to 127.0.0.1: %s %q, want refused by the guard", d.State, d.LastError)
			}
			for _, r := range up.Requests() {
				if r.RequestURI != "/open" {
					t.Errorf("upstream got %s", r.RequestURI)
				}
			}
			if err := gw.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// `scgate validate` creates no outbox file and no directory when the store
// does not exist yet (it used to create both); a store that can never be
// created is a validate error; a gateway that runs the config creates it.
func TestValidateCreatesNoStore(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(store string) string {
		return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_sender {
		endpoint ` + up.URL + `/hook {
			secret {env.SC_SECRET1}
		}
		store ` + store + `
		allow 127.0.0.0/8
	}
}`
	}
	validate := func(store string) (string, int) {
		file := filepath.Join(t.TempDir(), "Caddyfile")
		cfg := strings.NewReplacer("{{ADMIN_ADDR}}", "off", "{{HTTP_PORT}}", strconv.Itoa(gatewaytest.FreePort(t))).Replace(config(store))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return scgate(t, []string{"SC_SECRET1=" + secret1}, "validate", "--config", file, "--adapter", "caddyfile")
	}

	store := filepath.Join(dir, "new", "deeper", "outbox.db")
	if out, code := validate(store); code != 0 || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("validate (%d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("validate created the store's directory (%v)", err)
	}
	if out, code := validate(filepath.Join(notDir, "outbox.db")); code == 0 || !strings.Contains(out, "not a directory") {
		t.Fatalf("validate of a store under a file (%d):\n%s", code, out)
	}
	// A typo in a placeholder is reported, and no file named after it made.
	if out, code := validate(filepath.Join(dir, "{evn.SNAP}", "outbox.db")); code == 0 || !strings.Contains(out, "store has an unknown placeholder {evn.SNAP}") {
		t.Fatalf("validate of a store with a placeholder typo (%d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "{evn.SNAP}")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a directory named after the typo exists (%v)", err)
	}

	gw := gatewaytest.Start(t, gatewaytest.Options{Config: config(store), Env: []string{"SC_SECRET1=" + secret1}})
	if code, resp := post(t, gw.URL+"/", "application/json", lifecycleBody); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	waitCount(t, up, 1)
	if st, err := os.Stat(store); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the running gateway's store: %v, %v", st, err)
	}
	if st, err := os.Stat(filepath.Dir(store)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("the store's directory: %v, %v", st, err)
	}
}

// A reload applies new workers and per_endpoint to the running sender:
// with one worker one attempt is in flight at a time; after a reload to
// three, the waiting deliveries start at once.
func TestReloadAppliesConcurrency(t *testing.T) {
	var inFlight atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	store := filepath.Join(t.TempDir(), "outbox.db")
	config := func(workers int) string {
		return fmt.Sprintf(`{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_sender {
		endpoint %s/hook {
			secret {env.SC_SECRET1}
		}
		store %s
		allow 127.0.0.0/8
		workers %d
		per_endpoint %d
	}
}`, srv.URL, store, workers, workers)
	}
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: config(1), Env: []string{"SC_SECRET1=" + secret1}})
	for range 3 {
		if code, resp := post(t, gw.URL+"/", "application/json", lifecycleBody); code != http.StatusAccepted {
			t.Fatalf("POST = %d %s", code, resp)
		}
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		if n := inFlight.Load(); n != 1 {
			return fmt.Errorf("%d attempts in flight, want 1", n)
		}
		return nil
	})
	eventually.Holds(t, 200*time.Millisecond, 5*time.Millisecond, func() error {
		if n := inFlight.Load(); n > 1 {
			return fmt.Errorf("%d attempts in flight with workers 1", n)
		}
		return nil
	})
	if err := gw.Reload(config(3)); err != nil {
		t.Fatal(err)
	}
	eventually.Succeeds(t, 10*time.Second, func() error {
		if n := inFlight.Load(); n != 3 {
			return fmt.Errorf("%d attempts in flight after the reload to workers 3, want 3", n)
		}
		return nil
	})
}
