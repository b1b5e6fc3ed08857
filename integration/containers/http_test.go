package containers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// secret is the webhook secret every test gives the gateway and the
// application.
const secret = "container-test-secret"

// startTimeout bounds the wait for a container to serve.
const startTimeout = 60 * time.Second

// newEvent returns a fresh screenshot id and a realistic
// screenshot.finished body carrying it.
func newEvent(t testing.TB) (string, []byte) {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	id := "sc_" + hex.EncodeToString(b)
	body, err := webhook.SampleBody(webhook.ScreenshotFinished, id, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return id, body
}

// answer is a gateway's response.
type answer struct {
	status int
	header http.Header
	body   string
}

// deliver POSTs body to url as the vendor does; signed adds the signature
// made with secret.
func deliver(t testing.TB, url string, body []byte, signed bool) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, webhook.ScreenshotFinished)
	if signed {
		req.Header.Set(webhook.HeaderSignature, verifier.Sign([]byte(secret), body))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// waitServing waits until url answers HTTP at all (any status).
func waitServing(t testing.TB, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	eventually.Succeeds(t, startTimeout, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// httpGet returns the status and body of GET url.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// receivedCount counts the events with this screenshot id that the
// example application logged as received.
func receivedCount(t testing.TB, app, id string) int {
	t.Helper()
	return strings.Count(containerLogs(t, app), "screenshot_id="+id+" ")
}

// waitReceived waits until the application logged the event id as
// received (podman's log files lag the request a little).
func waitReceived(t testing.TB, app, id string) {
	t.Helper()
	eventually.Succeeds(t, 30*time.Second, func() error {
		if n := receivedCount(t, app, id); n != 1 {
			return fmt.Errorf("application %s logged event %s %d times, want 1", app, id, n)
		}
		return nil
	})
}

// checkGuarded sends an unsigned event to url, which must be answered 401,
// then a signed one, which must reach the application container app (its
// 200 "ok"). It checks that the application received the signed event and
// never saw the unsigned one (the example application would have logged it,
// or its refusal), and returns the signed event for more deliveries.
func checkGuarded(t testing.TB, url, app string) (id string, body []byte) {
	t.Helper()
	unsignedID, unsigned := newEvent(t)
	if a := deliver(t, url, unsigned, false); a.status != http.StatusUnauthorized {
		t.Fatalf("unsigned event: status %d (%s), want 401", a.status, a.body)
	}
	id, body = newEvent(t)
	// The application may still be starting when the gateway serves: a
	// 502 releases the claim, and the retry of the same event (as a
	// sender makes it) gets through once it listens.
	eventually.Succeeds(t, startTimeout, func() error {
		a := deliver(t, url, body, true)
		switch {
		case a.status == http.StatusOK && a.body == "ok\n":
			return nil
		case a.status == http.StatusBadGateway:
			return fmt.Errorf("signed event: 502, the application is not answering yet")
		}
		return eventually.Stop(fmt.Errorf("signed event: status %d, body %q; want 200 and the application's ok", a.status, a.body))
	})
	waitReceived(t, app, id)
	if logs := containerLogs(t, app); strings.Contains(logs, unsignedID) || strings.Contains(logs, "refused") {
		t.Errorf("the unsigned event reached the application:\n%s", logs)
	}
	return id, body
}
