package integration

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// A key template naming a field the event lacks must not leave the
// placeholder as text: every such event would then share one key and all
// but the first would be dropped as duplicates.
func TestKeyTemplateWithAFieldTheEventLacksIs400(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "dedupe memory {\n\t\t\tkey {event}/{screenshot_id}\n\t\t}")
	for i := 0; i < 2; i++ {
		got := post(t, `{"event":"batch.finished","batch_id":"`+uid(t)+`"}`)
		if got.Status != http.StatusBadRequest {
			t.Fatalf("batch event %d: status %d, want 400", i, got.Status)
		}
	}
	if up.Count() != 0 {
		t.Fatalf("upstream received %d events, want none", up.Count())
	}
	body := event(t, "screenshot.finished")
	expect(t, "event with the field", post(t, body), 200, "")
	if got := up.Requests()[0].Header.Get("X-Scgate-Dedupe-Key"); !strings.HasPrefix(got, "screenshot.finished/") {
		t.Fatalf("dedupe key %q", got)
	}
	expect(t, "its retry", post(t, body), 200, "duplicate")
}

// The upstream answered 200 and then broke off its body: reverse_proxy
// aborts the response, but the upstream accepted the event, so a retry must
// be a duplicate, not a second delivery.
func TestUpstreamThatAcceptedThenBrokeOffStaysCommitted(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	loadGateway(t, strings.TrimPrefix(up.URL, "http://"), "")
	body := event(t, "screenshot.finished")
	// The first answer is cut short; the client sees an error or a short body.
	if resp, err := client.Do(request(t, body)); err == nil {
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	// The client may see the break before the handler has committed: until
	// then the claim is held and a retry is answered 409. Once settled, a
	// retry must be a duplicate; a forward would mean the claim was released.
	eventually.Succeeds(t, 15*time.Second, func() error {
		got := post(t, body)
		switch {
		case got.Status == http.StatusConflict:
			return errors.New("the first copy is not settled yet (409)")
		case got.Status != http.StatusOK || got.Outcome() != "duplicate":
			return eventually.Stop(fmt.Errorf("retry answered %d (outcome %q), want 200 duplicate", got.Status, got.Outcome()))
		}
		return nil
	})
	if n := hits.Load(); n != 1 {
		t.Fatalf("upstream received %d deliveries, want 1", n)
	}
}

// A signed id with a control character is forwarded (the key header is
// percent-encoded) instead of failing in the transport on every retry.
func TestControlCharacterInIdIsForwarded(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	id := uid(t)
	body := `{"event":"screenshot.finished","screenshot_id":"` + id + `\n%"}`
	expect(t, "delivery", post(t, body), 200, "")
	if got, want := up.Requests()[0].Header.Get("X-Scgate-Dedupe-Key"), `"screenshot.finished" screenshot_id "`+id+`\u000a%"`; got != want {
		t.Fatalf("dedupe key header %q, want %q", got, want)
	}
	expect(t, "retry", post(t, body), 200, "duplicate")
}

// Without handle_errors a rejection carries a short JSON body with its
// reason, never the body or a MAC; with handle_errors the site renders it,
// and the reason placeholder is there to use.
func TestRejectionBodies(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := event(t, "screenshot.finished")
	got := post(t, body, sigHeader, sign("wrong", body))
	if got.Status != http.StatusUnauthorized || got.Body != `{"status":401,"reason":"signature_mismatch"}`+"\n" ||
		got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("rejection without handle_errors: %d %q (%s)", got.Status, got.Body, got.Header.Get("Content-Type"))
	}

	load(t, config(`http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_webhook {
		secret `+secret+`
	}
	reverse_proxy {{UPSTREAM}}
	handle_errors {
		respond "rendered {err.status_code} {http.screenshotcenter_webhook.reason}"
	}
}
`, "UPSTREAM", up.Addr))
	got = post(t, body, sigHeader, sign("wrong", body))
	if got.Status != http.StatusUnauthorized || got.Body != "rendered 401 signature_mismatch" {
		t.Fatalf("rejection with handle_errors: %d %q", got.Status, got.Body)
	}
}

// mode report puts the gateway in front of a live handler without
// refusing anything: a bad signature and a duplicate reach the upstream
// unchanged, counted as what enforce would have done.
func TestReportModePassesEverythingOn(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "mode report\n\t\tname report-it")
	body := event(t, "screenshot.finished")
	rejected := `scgate_webhook_rejections_total{endpoint="report-it",mode="report",reason="signature_mismatch"} `
	duplicates := `scgate_webhook_requests_total{endpoint="report-it",mode="report",outcome="duplicate"} `
	expect(t, "first delivery", post(t, body), 200, "")
	expect(t, "its retry", post(t, body), 200, "")
	expect(t, "a bad signature", post(t, body, sigHeader, sign("wrong", body)), 200, "")
	if n := up.Count(); n != 3 {
		t.Fatalf("the upstream got %d requests, want all 3", n)
	}
	if got := string(up.Requests()[2].Body); got != body {
		t.Fatalf("the bad-signature request reached the upstream as %q, want unchanged", got)
	}
	if scrapeLine(t, rejected) < 1 || scrapeLine(t, duplicates) < 1 {
		t.Fatal("report mode did not count what enforce would have refused")
	}
}
