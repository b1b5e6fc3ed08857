package screenshotcentersender

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/sender"
)

func testHandler(store string) *Handler {
	return &Handler{
		Endpoints:    []*Endpoint{{URL: "http://127.0.0.1:9/hook", Secret: "sidecar-test-secret"}},
		Store:        store,
		Backoff:      []caddy.Duration{caddy.Duration(time.Hour)},
		AllowPrivate: true,
	}
}

func serve(h *Handler) (int, http.Header) {
	// From a local application: httptest's default Host, example.com,
	// is refused (host.go).
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8081/", strings.NewReader(`{"event":"screenshot.finished","screenshot_id":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, req, nil)
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode, rec.Header()
	}
	if err != nil {
		return -1, nil
	}
	return rec.Code, rec.Header()
}

func provision(t *testing.T, h *Handler) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(func() { cancel() })
	if h.app == nil {
		// What ctx.App(appID) gives a handler in a real config (this
		// context has none).
		h.app = new(App)
	}
	err := h.Provision(ctx)
	if err == nil {
		err = h.Validate()
	}
	return err
}

// waitOpen waits until p's outbox is open.
func waitOpen(t *testing.T, p *pooledSender) {
	t.Helper()
	eventually.Succeeds(t, 30*time.Second, func() error {
		if p.Sender() == nil {
			return errors.New("the outbox is not open")
		}
		return nil
	})
}

// Provision does not depend on the store's lock: with the file held
// elsewhere it succeeds at once, the handler answers 503 with Retry-After,
// and the outbox opens in the background once the file is released. Cleanup
// stops the wait.
func TestProvisionLockedStore(t *testing.T) {
	old := openRetryInterval
	openRetryInterval = 10 * time.Millisecond
	t.Cleanup(func() { openRetryInterval = old })
	store := filepath.Join(t.TempDir(), "outbox.db")
	holder, err := sender.OpenOutbox(store, sender.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	// As `caddy validate` does: Provision, Validate, Cleanup (twice: it
	// is idempotent), while the file is held.
	h := testHandler(store)
	if err := provision(t, h); err != nil {
		t.Fatalf("Provision with a locked store = %v", err)
	}
	if code, hdr := serve(h); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("while locked: %d Retry-After %q, want 503 with Retry-After", code, hdr.Get("Retry-After"))
	}
	if err := h.pooled.notOpen(); err != errNotOpen {
		t.Fatalf("while locked, the 503 says %q", err)
	}
	if h.Cleanup() != nil || h.Cleanup() != nil {
		t.Fatal("Cleanup failed")
	}
	if _, ok := senders.References(store); ok {
		t.Fatal("the pooled sender outlived the last Cleanup")
	}

	// A gateway started while the old process still holds the file.
	h = testHandler(store)
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	holder.Close()
	waitOpen(t, h.pooled)
	if code, _ := serve(h); code != http.StatusAccepted {
		t.Fatalf("after the lock was released: %d, want 202", code)
	}
	if n, _ := h.pooled.Sender().List(sender.StatePending, 0); len(n) != 1 {
		t.Fatalf("%d pending deliveries, want 1", len(n))
	}
}

// Other errors opening the store stay config errors.
func TestProvisionStoreErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]string{
		"corrupt file":        corrupt,
		"directory":           dir,
		"parent is not a dir": filepath.Join(notDir, "outbox.db"),
	} {
		t.Run(name, func(t *testing.T) {
			h := testHandler(store)
			err := provision(t, h)
			if err == nil || errors.Is(err, sender.ErrStoreLocked) {
				t.Fatalf("Provision = %v, want a config error", err)
			}
			if h.Cleanup() != nil {
				t.Fatal("Cleanup after a failed Provision")
			}
			if _, ok := senders.References(store); ok {
				t.Fatal("a failed store stayed in the pool")
			}
		})
	}
}

// Settings reach the pooled sender only when a config starts: a second
// config on the same store that is provisioned and cleaned up without
// starting (caddy validate, a rejected reload) leaves the schedule and
// retention of the running one.
func TestUnstartedConfigChangesNothing(t *testing.T) {
	store := filepath.Join(t.TempDir(), "outbox.db")
	running := testHandler(store)
	running.Retain = caddy.Duration(time.Hour)
	if err := provision(t, running); err != nil {
		t.Fatal(err)
	}
	defer running.Cleanup()
	if err := running.app.Start(); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, running.pooled)
	s := running.pooled.Sender()

	rejected := testHandler(store)
	rejected.Retain = caddy.Duration(time.Millisecond)
	rejected.Backoff = []caddy.Duration{caddy.Duration(time.Millisecond)}
	if err := provision(t, rejected); err != nil {
		t.Fatal(err)
	}
	if rejected.pooled != running.pooled {
		t.Fatal("two handlers on one store got different senders")
	}
	if err := rejected.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := s.Retain(); got != time.Hour {
		t.Errorf("retention = %v, want 1h", got)
	}
	if got := s.Schedule().Backoff; len(got) != 1 || got[0] != time.Hour {
		t.Errorf("delays = %v, want [1h]", got)
	}
}

// Secrets are resolved by secret.Resolve (its table has every case); here,
// that the sender uses it: a resolved secret is kept, and a secret the
// receiver refuses is refused here too, without quoting it.
func TestSecretPlaceholders(t *testing.T) {
	t.Setenv("SCGATE_TEST_SECRET", "from-env-0123456789")
	t.Setenv("SCGATE_TEST_SHORT", "from-env")
	for _, tc := range []struct {
		secret string
		want   string // resolved secret, "" for a config error
	}{
		{"lit-{env.SCGATE_TEST_SECRET}", "lit-from-env-0123456789"},
		{"sidecar-literal-secret", "sidecar-literal-secret"},
		{"{evn.SCGATE_TEST_SECRET}", ""},
		{"hunter2{env.SCGATE_TEST_UNSET_VARIABLE}", ""},
		{"{env.SCGATE_TEST_SECRET", ""},
		{"hunter2}", ""},
		{"{system.os}", ""},
		{"{time.now.year}", ""},
		{" ", ""},
		{"hunter2", ""},
		{"{env.SCGATE_TEST_SHORT}", ""},
	} {
		t.Run(strings.NewReplacer("{", "(", "}", ")", `\`, "").Replace(tc.secret), func(t *testing.T) {
			h := testHandler(filepath.Join(t.TempDir(), "outbox.db"))
			h.Endpoints[0].Secret = tc.secret
			err := provision(t, h)
			defer h.Cleanup()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("secret %q accepted as %q", tc.secret, h.Endpoints[0].secret)
				}
				if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "from-env") {
					t.Fatalf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil || string(h.Endpoints[0].secret) != tc.want {
				t.Fatalf("secret %q: %q, %v; want %q", tc.secret, h.Endpoints[0].secret, err, tc.want)
			}
		})
	}
}
