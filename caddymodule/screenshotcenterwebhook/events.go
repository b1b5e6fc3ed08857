package screenshotcenterwebhook

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/caddymodule/scgateevents"
	"github.com/scgate/scgate/eventlog"
)

// answered is what the event log records about an answer besides what
// requestVars know.
type answered struct {
	status   int           // the status the client got
	passedOn bool          // report mode passed the request on: the upstream answered it
	upstream int           // the upstream's status; 0 when not called or no answer
	latency  time.Duration // the upstream call; 0 when not called
}

// forwardedAnswer is the answer to a forwarded request: the upstream's,
// or, when it wrote none, the error status the handler chain returned
// (the gateway's 502 when nothing answered).
func forwardedAnswer(status int, err error, latency time.Duration) answered {
	a := answered{status: status, upstream: status, latency: latency}
	if status == 0 {
		a.status = http.StatusBadGateway
		if he, ok := errors.AsType[caddyhttp.HandlerError](err); ok && he.StatusCode != 0 {
			a.status = he.StatusCode
		} else if err != nil && !errors.Is(err, errNoUpstream) {
			a.status = http.StatusInternalServerError
		}
	}
	return a
}

// logEvent adds the answered request to the process's event log, unless
// event_log is off (called by the one outcome hook, record). It holds what
// the outcome, the reason and the signed fields say, never the body, a
// signature or a secret.
func (h *Handler) logEvent(r *http.Request, vars *requestVars, a answered) {
	if h.EventLog == EventLogOff {
		return
	}
	e := eventlog.Entry{
		Endpoint: h.endpoint(), Scheme: h.Scheme, Outcome: vars.outcome, Reason: vars.reason,
		DedupeKey: vars.key, Status: a.status, UpstreamStatus: a.upstream, UpstreamLatency: a.latency,
		RemoteAddr: r.RemoteAddr,
	}
	if h.report {
		e.Mode = ModeReport
		if a.passedOn {
			e.Status = 0
		}
	}
	if vars.parsed {
		e.Event, e.ScreenshotID, e.BatchID = vars.ids()
	}
	scgateevents.Log().Record(e)
}

// ids returns the signed event name, screenshot_id and batch_id, copied
// out of the body (which is reused) in one allocation. Each is copied up
// to just past eventlog.MaxField, which the log cuts it to: a huge id is
// not kept alive by the shorter ones sharing its allocation.
func (v *requestVars) ids() (event, screenshotID, batchID string) {
	ev, _ := v.signed.Field("event")
	sid, _ := v.signed.Field("screenshot_id")
	bid, _ := v.signed.Field("batch_id")
	f := [3][]byte{ev.Value, sid.Value, bid.Value}
	n := 0
	for i := range f {
		f[i] = f[i][:min(len(f[i]), eventlog.MaxField+1)]
		n += len(f[i])
	}
	var b strings.Builder
	b.Grow(n)
	for _, x := range f {
		b.Write(x)
	}
	s := b.String()
	i, j := len(f[0]), len(f[0])+len(f[1])
	return s[:i], s[i:j], s[j:]
}

// sizeEventLog gives the process's event log the largest event_log of the
// handlers that record into it; a config whose handlers all have it off
// leaves the log as it is.
func sizeEventLog(handlers []*Handler) {
	size := 0
	for _, h := range handlers {
		size = max(size, h.EventLog)
	}
	if size > 0 {
		scgateevents.Log().SetSize(size)
	}
}
