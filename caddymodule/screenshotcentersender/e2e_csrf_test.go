package screenshotcentersender_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// A browser page on another site (another host, or another port of
// localhost, which browsers count as the same site) must not make the
// sidecar sign an event: requests a page can send without a CORS preflight
// (no Content-Type, text/plain, a form) are refused with 415, and requests
// whose Origin or Sec-Fetch-Site shows another origin with 403. Nothing
// refused is stored or delivered. Requests without those browser headers
// (curl, an application's HTTP client) and same-origin ones are accepted.
func TestSidecarRefusesOtherSites(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: sidecarConfig(up.URL, up.URL, store, ""),
		Env:    []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2},
	})
	self := gw.URL // http://127.0.0.1:<port>
	tests := []struct {
		name    string
		headers map[string]string // "" values are not sent
		want    int
	}{
		{"no content type (fetch no-cors, sendBeacon with a string)", map[string]string{}, http.StatusUnsupportedMediaType},
		{"text/plain", map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, http.StatusUnsupportedMediaType},
		{"form", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"json from another port of localhost", map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:3000"}, http.StatusForbidden},
		{"json from another host", map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"json from an opaque origin", map[string]string{"Content-Type": "application/json", "Origin": "null"}, http.StatusForbidden},
		{"same-site fetch metadata", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"cross-site fetch metadata", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"cross-site without a content type", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost:3000"}, http.StatusForbidden},
		{"same origin", map[string]string{"Content-Type": "application/json", "Origin": self, "Sec-Fetch-Site": "same-origin"}, http.StatusAccepted},
		{"user-initiated (none)", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "none"}, http.StatusAccepted},
		{"a program (no browser headers)", map[string]string{"Content-Type": "application/json; charset=utf-8"}, http.StatusAccepted},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"event":"screenshot.finished","screenshot_id":"sc_csrf","created_at":"2026-02-22T14:30:00Z"}`
			req, err := http.NewRequest(http.MethodPost, gw.URL+"/", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%d, want %d", resp.StatusCode, tt.want)
			}
		})
		if tt.want == http.StatusAccepted {
			accepted++
		}
	}
	// Wait for what is asserted: every accepted event recorded as
	// delivered in the outbox (through the admin API while the gateway
	// holds the store), not only received by the upstream: a stop between
	// the two would leave an attempt to make again at the next start.
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	eventually.Succeeds(t, waitTimeout, func() error {
		out, code := scgate(t, []string{"XDG_DATA_HOME=" + t.TempDir()}, "deliveries", "list", "--state", "delivered", "--store", store, "--address", addr)
		if code != 0 || strings.Count(out, " delivered ") != accepted {
			return fmt.Errorf("%d recorded delivered, want %d (%d):\n%s", strings.Count(out, " delivered "), accepted, code, out)
		}
		return nil
	})
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	// Only the accepted requests were stored.
	out, code := scgate(t, nil, "deliveries", "list", "--store", store)
	if code != 0 || strings.Count(out, "delivered") != accepted || up.Count() != accepted {
		t.Fatalf("%d delivered to the upstream, want %d; deliveries list (%d):\n%s", up.Count(), accepted, code, out)
	}
}
