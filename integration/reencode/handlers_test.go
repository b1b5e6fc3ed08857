package reencode_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/runtimes"
)

// appAccepted and appRejected are the example handlers' own answers (the
// gateway adds no outcome header to an upstream's answer).
var (
	appAccepted = answer{status: http.StatusOK, body: "OK"}
	appRejected = answer{status: http.StatusUnauthorized, body: "Invalid signature"}
)

// received is the log line an example handler writes for an event it
// accepted, up to the id's end.
func received(id string) string { return "received screenshot.finished screenshot_id=" + id + " " }

// logWait bounds the wait for a handler's log line after its answer.
const logWait = 10 * time.Second

// TestUnchangedHandlers runs each example handler, unchanged, behind the
// gateway with its example Caddyfile (`reencode <style>`) and behind one
// without reencode, delivers every body case signed over its raw bytes to
// both, and checks retries.
func TestUnchangedHandlers(t *testing.T) {
	for _, ex := range exampleApps {
		t.Run(ex.dir, func(t *testing.T) {
			dir := exampleDir(t, ex.dir)
			app := ex.start(t, dir, freeAddr(t))
			reencoded := exampleGateway(t, dir, app.Addr)
			plain := plainGateway(t, app.Addr)

			for _, c := range bodyCases {
				t.Run(c.name, func(t *testing.T) {
					id := newID(t)
					body := c.with(id)
					got := deliver(t, reencoded.URL+hookPath, body, signed(body))
					if reason, ok := c.refused[ex.style]; ok {
						expectRefused(t, got, reencoded, app, id, reason)
					} else {
						expectAccepted(t, "with reencode "+ex.style, got, app, id)
					}

					id = newID(t)
					body = c.with(id)
					got = deliver(t, plain.URL+hookPath, body, signed(body))
					if c.isFixedPoint(ex.style) {
						expectAccepted(t, "without reencode (the body is what the handler writes back)", got, app, id)
					} else if got != appRejected {
						t.Errorf("without reencode: %v, want the handler's own %v (the bug reencode fixes)", got, appRejected)
					}
				})
			}
			t.Run("retries", func(t *testing.T) { checkRetries(t, app, reencoded, plain) })
		})
	}
}

// checkRetries: dedupe still works with reencode (the claim is on the
// original event, committed after the handler's 200), while without it a
// handler that refuses the body gets every retry again, and refuses it.
func checkRetries(t *testing.T, app *runtimes.Server, reencoded, plain *gatewaytest.Gateway) {
	pretty := bodyCases[1]
	if pretty.name != "pretty-printed" || len(pretty.fixedPoint) != 0 {
		t.Fatalf("bodyCases[1] is %q, want the pretty-printed case no handler accepts as is", pretty.name)
	}

	id := newID(t)
	body := pretty.with(id)
	expectAccepted(t, "first delivery", deliver(t, reencoded.URL+hookPath, body, signed(body)), app, id)
	for _, attempt := range []string{"first retry", "second retry"} {
		if got := deliver(t, reencoded.URL+hookPath, body, signed(body)); got.status != http.StatusOK || got.outcome != "duplicate" {
			t.Errorf("%s with reencode: %v, want 200 duplicate", attempt, got)
		}
	}
	if n := strings.Count(app.Output(), received(id)); n != 1 {
		t.Errorf("the handler received the event %d times, want once", n)
	}

	id = newID(t)
	body = pretty.with(id)
	for _, attempt := range []string{"delivery", "retry", "second retry"} {
		if got := deliver(t, plain.URL+hookPath, body, signed(body)); got != appRejected {
			t.Errorf("%s without reencode: %v, want the handler's %v again (released, not duplicate)", attempt, got, appRejected)
		}
	}
}

func expectAccepted(t *testing.T, what string, got answer, app *runtimes.Server, id string) {
	t.Helper()
	if got != appAccepted {
		t.Errorf("%s: %v, want the handler's %v", what, got, appAccepted)
		return
	}
	if err := eventually.Within(logWait, func() error {
		if !strings.Contains(app.Output(), received(id)) {
			return errors.New("not logged")
		}
		return nil
	}); err != nil {
		t.Errorf("%s: answered %v but the handler did not log %q", what, got, received(id))
	}
}

// expectRefused checks a 422 from the gateway with its reason in the log,
// and that the handler never saw the event.
func expectRefused(t *testing.T, got answer, gw *gatewaytest.Gateway, app *runtimes.Server, id, reason string) {
	t.Helper()
	if got.status != http.StatusUnprocessableEntity || got.outcome != "" {
		t.Errorf("with reencode: %v, want 422 from the gateway", got)
	}
	if !gw.WaitOutput(`"reason":"`+reason+`"`, logWait) {
		t.Errorf("the gateway did not log reason %s", reason)
	}
	if strings.Contains(app.Output(), "screenshot_id="+id+" ") {
		t.Errorf("the handler received a body the gateway refused")
	}
}
