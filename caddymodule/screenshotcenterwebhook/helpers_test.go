package screenshotcenterwebhook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	// The adapt tests use the reverse_proxy directive.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/scgate/scgate/verifier"
)

// The tests' secrets: 16 bytes or more, as a config requires. The Caddyfile
// and JSON texts of config_test.go spell testSecret out.
const (
	testSecret = "test-secret-0123456789"
	oldSecret  = "old-secret-0123456789"
	newSecret  = "new-secret-0123456789"
)

func parse(t *testing.T, input string) (*Handler, error) {
	t.Helper()
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

// provision runs the Caddy lifecycle on h the way a config load does:
// Provision, Validate, the start of its App (as a config that serves), and
// Cleanup when the test ends. Each handler gets its own App: handlers of one
// config seeing each other is tested through Caddy (integration).
func provision(t *testing.T, h *Handler) error {
	t.Helper()
	if err := validate(t, h); err != nil {
		return err
	}
	if h.app != nil {
		return h.app.Start()
	}
	return nil
}

// validate is provision without starting: what `caddy validate` and a
// rejected reload do.
func validate(t *testing.T, h *Handler) error {
	t.Helper()
	if h.app == nil {
		h.app = new(App)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(func() {
		if err := h.Cleanup(); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		if err := h.Cleanup(); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
		cancel()
	})
	if err := h.Provision(ctx); err != nil {
		return err
	}
	return h.Validate()
}

// serve sends one POST with body, signed with secret (the header the
// provisioned handler reads first), through h in front of a handler that
// answers 200, and describes what happened: "forwarded", the gateway's own
// outcome header (e.g. "ignored"), or "status N" for an error.
func serve(t *testing.T, h *Handler, secret, body string) string {
	t.Helper()
	got, _ := serveHeaders(t, h, secret, body)
	return got
}

// serveHeaders is serve that also returns the response headers.
func serveHeaders(t *testing.T, h *Handler, secret, body string) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set(h.SignatureHeaders[0], verifier.Sign([]byte(secret), []byte(body)))
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	forwarded := false
	err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		forwarded = true
		w.WriteHeader(http.StatusOK)
		return nil
	}))
	var he caddyhttp.HandlerError
	switch {
	case errors.As(err, &he):
		return "status " + strconv.Itoa(he.StatusCode), w.Header()
	case err != nil:
		t.Fatalf("ServeHTTP: %v", err)
	case forwarded:
		return "forwarded", w.Header()
	case w.Code >= 400:
		// Answered by the gateway itself, with its JSON body.
		return "status " + strconv.Itoa(w.Code), w.Header()
	}
	return w.Header().Get(HeaderOutcome), w.Header()
}

// adapt runs the Caddyfile adapter as `caddy adapt` does.
func adapt(t *testing.T, input string) []byte {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	out, warnings, err := adapter.Adapt([]byte(input), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("adapt warning: %s", w.String())
	}
	return out
}
