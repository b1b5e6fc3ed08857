// Package inbox_test runs the scgate binary in inbox mode against real
// HTTP applications on loopback: the admin routes and `scgate inbox`, a
// full disk, and an application down while events are acknowledged and
// the gateway killed with SIGKILL; with backend nats, the same against a
// real nats-server (internal/natstest), shared by two gateways.
package inbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

const secret = "e2e-inbox-secret-0123456789"

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

// inboxConfig is a Caddyfile whose one site queues events in an inbox at
// store delivering to dest, with the inbox subdirectives extra.
func inboxConfig(store, dest string, extra ...string) string {
	return handlerConfig(store, dest, nil, extra)
}

// handlerConfig is inboxConfig with more subdirectives of the handler.
func handlerConfig(store, dest string, handler, extra []string) string {
	return siteConfig("store "+store, dest, handler, extra)
}

// siteConfig is the Caddyfile of handlerConfig with where (the inbox's
// store or backend line) instead of its store.
func siteConfig(where, dest string, handler, extra []string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
	auto_https off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret {env.SCGATE_E2E_SECRET}
		` + strings.Join(handler, "\n\t\t") + `
		inbox {
			deliver_to ` + dest + `
			` + where + `
			` + strings.Join(extra, "\n\t\t\t") + `
		}
	}
}`
}

// startInbox starts a gateway with inboxConfig.
func startInbox(t *testing.T, opts gatewaytest.Options) *gatewaytest.Gateway {
	t.Helper()
	opts.Env = append(opts.Env, "SCGATE_E2E_SECRET="+secret)
	return gatewaytest.Start(t, opts)
}

// event is the body of the i-th test event.
func event(i int) []byte {
	return fmt.Appendf(nil, `{"event":"screenshot.finished","screenshot_id":"sc_e2e_%d","created_at":"2026-02-22T14:30:00Z"}`, i)
}

// answer is what the gateway answered a delivery.
type answer struct {
	status   int
	outcome  string
	delivery string // of a 202
	reason   string // of a refusal
}

// send posts a signed body to gw as a provider does.
func send(client *http.Client, gw *gatewaytest.Gateway, body []byte) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, gw.URL+"/webhooks/screenshot", strings.NewReader(string(body)))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	var ev struct{ Event string }
	json.Unmarshal(body, &ev)
	req.Header.Set(webhook.HeaderEvent, ev.Event)
	req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), body))
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var b struct{ Delivery, Reason string }
	json.NewDecoder(resp.Body).Decode(&b)
	return answer{status: resp.StatusCode, outcome: resp.Header.Get("X-Scgate-Outcome"), delivery: b.Delivery, reason: b.Reason}, nil
}

// mustQueue sends body and fails t unless it is queued; it returns the
// entry's id.
func mustQueue(t *testing.T, gw *gatewaytest.Gateway, body []byte) string {
	t.Helper()
	a, err := send(http.DefaultClient, gw, body)
	if err != nil || a.status != http.StatusAccepted || a.outcome != "queued" || a.delivery == "" {
		t.Fatalf("sending %s: %+v, %v; want 202 queued", body, a, err)
	}
	return a.delivery
}

// adminJSON sends a request to gw's admin endpoint and decodes its JSON
// answer into out, failing t unless it answers want.
func adminJSON(t *testing.T, gw *gatewaytest.Gateway, method, path string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, gw.AdminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// entry is an entry as the admin API shows it.
type entry struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	Earlier   int    `json:"earlier_attempts"`
	DedupeKey string `json:"dedupe_key"`
	BodyBytes int    `json:"body_bytes"`
	Log       []struct {
		N      int `json:"n"`
		Status int `json:"status"`
	} `json:"attempts_log"`
}

// entryState returns the state of entry id through gw's admin API.
func entryState(t *testing.T, gw *gatewaytest.Gateway, id string) entry {
	t.Helper()
	var ans struct{ Entry entry }
	adminJSON(t, gw, http.MethodGet, "/scgate/inbox/"+id, http.StatusOK, &ans)
	return ans.Entry
}

// waitState waits until entry id is in state.
func waitState(t *testing.T, gw *gatewaytest.Gateway, id, state string) entry {
	t.Helper()
	var e entry
	eventually.Succeeds(t, time.Minute, func() error {
		if e = entryState(t, gw, id); e.State != state {
			return fmt.Errorf("entry %s is %s, want %s", id, e.State, state)
		}
		return nil
	})
	return e
}
