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
