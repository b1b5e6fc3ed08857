package screenshotcenterwebhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/caddymodule/scgateevents"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/flow"
)

// eventsOf returns what the process's event log holds for the endpoint,
// oldest first.
func eventsOf(endpoint string) []eventlog.Entry {
	got := scgateevents.Log().Find(eventlog.Query{Endpoint: endpoint})
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got
}

// recording provisions a handler with these Caddyfile options (its secret
// is testSecret).
func recording(t *testing.T, options string) *Handler {
	t.Helper()
	h, err := parse(t, "screenshotcenter_webhook {\nsecret "+testSecret+"\n"+options+"\n}")
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	return h
}

func describe(e eventlog.Entry) string {
	return fmt.Sprintf("%s/%s %d up=%d ev=%s id=%s%s key=%s mode=%s", e.Outcome, e.Reason, e.Status, e.UpstreamStatus,
		e.Event, e.ScreenshotID, e.BatchID, e.DedupeKey, e.Mode)
}

// Every answer is recorded once, with what the gateway knew: outcome,
// reason, status, the upstream's status and latency, the signed ids and
// the dedupe key.
func TestEveryAnswerIsRecorded(t *testing.T) {
	h := recording(t, "name events-enforce\nevents screenshot.finished batch.finished")
	body := `{"event":"screenshot.finished","screenshot_id":"sc_rec_1"}`
	handle(t, h, signed(testSecret, body), func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusAccepted)
		return nil
	})
	handle(t, h, signed(testSecret, body), nil)
	handle(t, h, signed(oldSecret, body), nil)
	handle(t, h, signed(testSecret, `{"event":"screenshot.failed","screenshot_id":"sc_rec_2"}`), nil)
	batch := `{"event":"batch.finished","batch_id":"batch_rec_3"}`
	handle(t, h, signed(testSecret, batch), func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusInternalServerError)
		return nil
	})
	handle(t, h, signed(testSecret, `{"event":"batch.finished","batch_id":"batch_rec_4"}`), func(w http.ResponseWriter, r *http.Request) error {
		return nil // nothing answers
	})
	want := []string{
		`forwarded/ 202 up=202 ev=screenshot.finished id=sc_rec_1 key="screenshot.finished" screenshot_id "sc_rec_1" mode=`,
		`duplicate/ 200 up=0 ev=screenshot.finished id=sc_rec_1 key="screenshot.finished" screenshot_id "sc_rec_1" mode=`,
		`rejected/signature_mismatch 401 up=0 ev= id= key= mode=`,
		`ignored/ 200 up=0 ev=screenshot.failed id=sc_rec_2 key= mode=`,
		`upstream_failed/ 500 up=500 ev=batch.finished id=batch_rec_3 key="batch.finished" batch_id "batch_rec_3" mode=`,
		`upstream_failed/no_upstream_response 502 up=0 ev=batch.finished id=batch_rec_4 key="batch.finished" batch_id "batch_rec_4" mode=`,
	}
	got := eventsOf("events-enforce")
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %v", len(got), len(want), got)
	}
	for i, e := range got {
		if d := describe(e); d != want[i] {
			t.Errorf("entry %d:\n got %s\nwant %s", i, d, want[i])
		}
		if e.ID != e.ScreenshotID+e.BatchID {
			t.Errorf("entry %d: id %q, screenshot_id %q, batch_id %q", i, e.ID, e.ScreenshotID, e.BatchID)
		}
		if e.Scheme != "screenshotcenter" || e.RemoteAddr == "" || e.Time.IsZero() {
			t.Errorf("entry %d: scheme %q, remote %q, time %v", i, e.Scheme, e.RemoteAddr, e.Time)
		}
		forwarded := e.UpstreamStatus != 0 || e.Reason == flow.ReasonNoUpstream
		if forwarded != (e.UpstreamLatency > 0) {
			t.Errorf("entry %d (%s): upstream latency %v", i, e.Outcome, e.UpstreamLatency)
		}
	}
}

// In report mode a refused request is passed on: the entry says what
// enforce would have done, and that the upstream answered.
func TestReportModeEntries(t *testing.T) {
	h := recording(t, "name events-report\nmode report")
	handle(t, h, signed(oldSecret, `{"event":"screenshot.finished","screenshot_id":"sc_rep"}`), nil)
	got := eventsOf("events-report")
	if len(got) != 1 || describe(got[0]) != "rejected/signature_mismatch 0 up=0 ev= id= key= mode=report" {
		t.Fatalf("entries %v", got)
	}
}

func TestEventLogOffRecordsNothing(t *testing.T) {
	h := recording(t, "name events-off\nevent_log off")
	handle(t, h, signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"sc_off"}`), nil)
	handle(t, h, signed(oldSecret, `{"event":"screenshot.finished","screenshot_id":"sc_off"}`), nil)
	if got := eventsOf("events-off"); len(got) != 0 {
		t.Fatalf("event_log off recorded %v", got)
	}
}

// The largest event_log of a config that starts sizes the process's log;
// one whose handlers all have it off leaves it as it is.
func TestStartSizesTheEventLog(t *testing.T) {
	defer scgateevents.Log().SetSize(DefaultEventLog)
	start := func(options ...string) {
		t.Helper()
		app := new(App)
		for _, o := range options {
			h, err := parse(t, "screenshotcenter_webhook {\nsecret "+testSecret+"\ndedupe off\n"+o+"\n}")
			if err != nil {
				t.Fatal(err)
			}
			h.app = app
			if err := validate(t, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Start(); err != nil {
			t.Fatal(err)
		}
	}
	start("event_log 50", "event_log 70", "")
	if n := scgateevents.Log().Size(); n != DefaultEventLog {
		t.Errorf("size %d, want the default %d (the largest)", n, DefaultEventLog)
	}
	start("event_log 50", "event_log 70")
	if n := scgateevents.Log().Size(); n != 70 {
		t.Errorf("size %d, want 70", n)
	}
	start("event_log off")
	if n := scgateevents.Log().Size(); n != 70 {
		t.Errorf("size %d after a config with the log off, want 70 kept", n)
	}
}

// A huge signed id is cut in the log, and the entry does not keep the
// body alive.
func TestHugeIDsAreCut(t *testing.T) {
	h := recording(t, "name events-huge")
	id := strings.Repeat("x", 100_000)
	handle(t, h, signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"`+id+`"}`), nil)
	got := eventsOf("events-huge")
	if len(got) != 1 {
		t.Fatalf("entries %v", len(got))
	}
	if e := got[0]; len(e.ScreenshotID) > eventlog.MaxField || len(e.DedupeKey) > eventlog.MaxField || e.Event != "screenshot.finished" {
		t.Errorf("screenshot_id %d bytes, dedupe_key %d bytes, event %q", len(e.ScreenshotID), len(e.DedupeKey), e.Event)
	}
}

// Another scheme's entry names it and carries its event id.
func TestStripeEntry(t *testing.T) {
	h, err := parse(t, "screenshotcenter_webhook {\nscheme stripe\nsecret whsec_events0123456789abcdef\nname events-stripe\n}")
	if err != nil {
		t.Fatal(err)
	}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"id":"evt_rec_1","object":"event","type":"invoice.paid","created":1700000000,"data":{"object":{}}}`
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	h.checker.Scheme.Sign(req.Header, 0, []byte(body), time.Now())
	if got := handle(t, h, req, nil); got.outcome != "forwarded" {
		t.Fatalf("outcome %q (reason %q)", got.outcome, got.reason)
	}
	got := eventsOf("events-stripe")
	if len(got) != 1 || got[0].Scheme != "stripe" || got[0].Event != "invoice.paid" || got[0].ID != "evt_rec_1" ||
		got[0].ScreenshotID != "" || got[0].BatchID != "" {
		t.Fatalf("entries %+v", got)
	}
}

// Behind a load balancer the peer is the balancer: the entry keeps it and
// also the client Caddy determined (client_ip, which follows the server's
// trusted_proxies), which the dashboard and `scgate events` show.
func TestEntryRecordsTheClientIP(t *testing.T) {
	h := recording(t, "name events-client-ip")
	req := signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"sc_client_1"}`)
	req.RemoteAddr = "10.0.0.2:4711"
	vars := map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.9"}
	req = req.WithContext(context.WithValue(req.Context(), caddyhttp.VarsCtxKey, vars))
	handle(t, h, req, nil)
	got := eventsOf("events-client-ip")
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1", len(got))
	}
	if got[0].ClientIP != "203.0.113.9" || got[0].RemoteAddr != "10.0.0.2:4711" {
		t.Errorf("client_ip %q remote_addr %q, want 203.0.113.9 and 10.0.0.2:4711", got[0].ClientIP, got[0].RemoteAddr)
	}
}
