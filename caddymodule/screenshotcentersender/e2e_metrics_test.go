package screenshotcentersender_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// The sender's metrics through a real Caddy, scraped from the admin
// /metrics endpoint: deliveries by final state and attempts by outcome per
// endpoint host (2xx, 5xx, refused, blocked by the SSRF guard), pending
// deliveries and the age of the oldest (an attempt in flight counts), a
// zero for a configured host with nothing pending, and counters kept
// across a reload.
func TestSenderMetrics(t *testing.T) {
	ok := gatewaytest.NewUpstream(t)
	failing := gatewaytest.NewUpstream(t)
	failing.Respond(func(int, gatewaytest.Request) int { return http.StatusInternalServerError })
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)                                            // before the server's Close, which waits for it
	refused := "127.0.0.1:" + strconv.Itoa(gatewaytest.FreePort(t)) // nothing listens there
	blocked := strings.Replace(ok.URL, "127.0.0.1", "127.0.0.2", 1)
	host := func(u string) string { p, _ := url.Parse(u); return p.Host }

	store := filepath.Join(t.TempDir(), "outbox.db")
	config := func(extra string) string {
		return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_sender {
		endpoint ` + ok.URL + `/hook {
			secret {env.SC_SECRET1}
			events screenshot.finished
		}
		endpoint ` + failing.URL + `/hook {
			secret {env.SC_SECRET1}
			events screenshot.finished
		}
		endpoint http://` + refused + `/hook {
			secret {env.SC_SECRET1}
			events screenshot.finished
		}
		endpoint ` + blocked + `/hook {
			secret {env.SC_SECRET1}
			events screenshot.finished
		}
		endpoint ` + hanging.URL + `/hook {
			secret {env.SC_SECRET1}
			events screenshot.failed
		}
		store ` + store + `
		allow 127.0.0.1/32
		attempts 2
		backoff 20ms
		` + extra + `
	}
}`
	}
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: config(""), Env: []string{"SC_SECRET1=" + secret1}})
	if code, resp := post(t, gw.URL+"/", "application/json", lifecycleBody); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	want := []struct {
		series string
		value  float64
	}{
		{`scgate_sender_attempts_total{host="` + host(ok.URL) + `",outcome="2xx"}`, 1},
		{`scgate_sender_deliveries_total{host="` + host(ok.URL) + `",state="delivered"}`, 1},
		{`scgate_sender_attempts_total{host="` + host(failing.URL) + `",outcome="5xx"}`, 2},
		{`scgate_sender_deliveries_total{host="` + host(failing.URL) + `",state="failed"}`, 1},
		{`scgate_sender_attempts_total{host="` + refused + `",outcome="refused"}`, 2},
		{`scgate_sender_deliveries_total{host="` + refused + `",state="failed"}`, 1},
		{`scgate_sender_attempts_total{host="` + host(blocked) + `",outcome="blocked"}`, 1},
		{`scgate_sender_deliveries_total{host="` + host(blocked) + `",state="failed"}`, 1},
		{`scgate_sender_deliveries_total{host="` + host(ok.URL) + `",state="failed"}`, 0},
		{`scgate_sender_pending_deliveries{host="` + host(ok.URL) + `"}`, 0},
		{`scgate_sender_pending_deliveries{host="` + host(hanging.URL) + `"}`, 0},
	}
	waitMetrics(t, gw, want)

	// An attempt in flight: pending, and aging.
	failed := `{"event":"screenshot.failed","screenshot_id":"sc_metrics","error":"x"}`
	if code, resp := post(t, gw.URL+"/", "application/json", failed); code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	want[len(want)-1].value = 1
	waitMetrics(t, gw, want)
	eventually.Succeeds(t, waitTimeout, func() error {
		age, err := metric(gw, `scgate_sender_oldest_pending_age_seconds{host="`+host(hanging.URL)+`"}`)
		if err != nil || age <= 0 || age > 600 {
			return fmt.Errorf("oldest pending age %v (%v), want a few seconds", age, err)
		}
		return nil
	})

	// A reload registers the same collectors in the new config's
	// registry: the counts go on.
	if err := gw.Reload(config("timeout 5s")); err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, gw, want[:8])
	text, err := scrape(gw)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "scgate_sender_") && (strings.Contains(line, "id=") || strings.Contains(line, "event=")) {
			t.Errorf("a series with a per-delivery label: %s", line)
		}
	}
}

// waitMetrics waits until every series has its value.
func waitMetrics(t *testing.T, gw *gatewaytest.Gateway, want []struct {
	series string
	value  float64
}) {
	t.Helper()
	eventually.Succeeds(t, waitTimeout, func() error {
		for _, w := range want {
			v, err := metric(gw, w.series)
			if err != nil || v != w.value {
				return fmt.Errorf("%s = %v (%v), want %v", w.series, v, err, w.value)
			}
		}
		return nil
	})
}

// metric scrapes the gateway's admin /metrics and returns the value of
// one series, written as in the exposition format.
func metric(gw *gatewaytest.Gateway, series string) (float64, error) {
	text, err := scrape(gw)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(text, "\n") {
		if v, found := strings.CutPrefix(line, series+" "); found {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no series %s", series)
}

func scrape(gw *gatewaytest.Gateway) (string, error) {
	resp, err := http.Get(gw.AdminURL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return string(b), err
}
