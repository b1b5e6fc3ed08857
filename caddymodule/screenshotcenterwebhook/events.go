package screenshotcenterwebhook

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/scgate/scgate/caddymodule/scgateevents"
	"github.com/scgate/scgate/eventlog"
	"github.com/scgate/scgate/flow"
)

// logEvent adds the answered request to the process's event log, unless
// event_log is off; the outcome hook (record) calls it once per request.
// The entry holds what the outcome, the reason and the signed fields say,
// never the body, a signature or a secret.
func (h *Handler) logEvent(r *http.Request, vars *requestVars, o flow.Outcome) {
	if h.EventLog == EventLogOff {
		return
	}
	e := eventlog.Entry{
		Endpoint: h.endpoint(), Scheme: h.Scheme, Outcome: o.Name, Reason: o.Reason,
		DedupeKey: vars.key, Status: o.Status, RemoteAddr: r.RemoteAddr, DeliveryID: o.DeliveryID,
	}
	e.ClientIP, _ = caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	switch {
	case o.Name == flow.Forwarded || o.Name == flow.UpstreamFailed:
		// Delivered: the upstream's answer, or, when it wrote none, the
		// error status the handler chain returned (the gateway's 502 when
		// nothing answered).
		e.UpstreamStatus, e.UpstreamLatency = o.Status, vars.upstream
		if o.Status == 0 {
			e.Status = http.StatusBadGateway
			if he, ok := errors.AsType[caddyhttp.HandlerError](o.Err); ok && he.StatusCode != 0 {
				e.Status = he.StatusCode
			} else if o.Err != nil && o.Reason != flow.ReasonNoUpstream {
				e.Status = http.StatusInternalServerError
			}
		}
	case h.report:
		e.Status = 0 // passed on: the upstream answers it
	}
	if h.report {
		e.Mode = ModeReport
	}
	if vars.parsed {
		e.Event, e.ID, e.ScreenshotID, e.BatchID = vars.ids()
	}
	scgateevents.Log().Record(e)
}

// ids returns the signed event type, the event's id (its scheme's
// identity) and ScreenshotCenter's screenshot_id and batch_id, copied out
// of the body (which is reused) in one allocation. Each is copied up to
// just past eventlog.MaxField, which the log cuts it to, so that a huge
// id is not kept alive by the shorter ones sharing its allocation.
func (v *requestVars) ids() (event, id, screenshotID, batchID string) {
	var f [4][]byte
	f[0] = v.signed.Type
	if x, ok := v.scheme.Identity(v.signed); ok {
		f[1] = x.Value
	}
	if x, ok := v.signed.Field("screenshot_id"); ok {
		f[2] = x.Value
	}
	if x, ok := v.signed.Field("batch_id"); ok {
		f[3] = x.Value
	}
	n := 0
	for i := range f {
		f[i] = f[i][:min(len(f[i]), eventlog.MaxField+1)]
		if i != 1 || !(bytes.Equal(f[1], f[2]) || bytes.Equal(f[1], f[3])) {
			n += len(f[i])
		}
	}
	var b strings.Builder
	b.Grow(n)
	var s [4]string
	for i, x := range f {
		if i == 1 {
			continue // the id is usually one of the two that follow
		}
		start := b.Len()
		b.Write(x)
		s[i] = b.String()[start:]
	}
	switch {
	case len(f[1]) == 0:
	case bytes.Equal(f[1], f[2]):
		s[1] = s[2]
	case bytes.Equal(f[1], f[3]):
		s[1] = s[3]
	default:
		start := b.Len()
		b.Write(f[1])
		s[1] = b.String()[start:]
	}
	return s[0], s[1], s[2], s[3]
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
