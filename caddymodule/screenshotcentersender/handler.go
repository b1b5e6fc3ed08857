// Package screenshotcentersender is the Caddy glue of the scgate sender: the
// http.handlers.screenshotcenter_sender handler (an outbound sidecar that
// signs and delivers events local applications hand it), the scgate_sender
// app that starts its workers, the deliveries admin API and the `scgate
// send`, `scgate sign` and `scgate deliveries` subcommands. The delivery
// logic lives in the sender package, which does not import Caddy.
//
// Files: handler.go (registration, the request path), config.go (the
// config and every rule it must follow), caddyfile.go (parsing only),
// pool.go (one outbox per store file across reloads), app.go (starting
// the workers when a config runs), admin.go (the admin API), command.go
// (the subcommands).
package screenshotcentersender

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/scgate/scgate/gateway"
	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/webhook"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("screenshotcenter_sender", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("screenshotcenter_sender", httpcaddyfile.Before, "handle")
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.screenshotcenter_sender",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves secrets, checks the config (every rule, for JSON and
// Caddyfile configs alike), sets defaults, gets the outbox from the usage
// pool (opening an existing file on first use; a missing one is created
// when the config starts) and registers it with this config's
// scgate_sender app. It has no other side effect: the workers, the purge,
// the recovery of interrupted attempts and the settings of the running
// sender wait for the app's Start, so `scgate validate` and a rejected
// reload create, send and change nothing. It never waits for the store's
// lock: if another process holds the file (a running gateway while
// `scgate validate` runs, or the old process during a restart), the outbox
// is opened in the background as soon as it is released, and events are
// refused with 503 and Retry-After until then. Any other error opening an
// existing store (permissions, a corrupt file) is a config error.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.prepare(); err != nil {
		return err
	}
	if beyond := listensBeyondLoopback(ctx); len(beyond) > 0 && len(h.AllowedHosts) == 0 {
		h.logger.Warn("sender site listens beyond loopback; whoever reaches it can have events signed with your secrets: bind it to loopback (bind 127.0.0.1), or name the hosts it serves in allowed_hosts",
			zap.Strings("listen", beyond))
	}
	abs := h.storeAbs
	h.net = h.netOptions()
	if h.app == nil {
		app, err := ctx.App(appID)
		if err != nil {
			return err
		}
		h.app = app.(*App)
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	st := h.settings()
	opts := sender.Options{
		Workers:     h.Workers,
		PerEndpoint: h.PerEndpoint,
		Schedule:    st.Schedule,
		Logger:      h.logger.Named("delivery").With(zap.String("store", abs)),
		OnAttempt:   countAttempt,
		Retain:      st.Retain,
	}
	p, err := loadSender(abs, opts, h.logger)
	if err != nil {
		return err
	}
	h.storePath, h.pooled = abs, p
	hosts := h.hosts()
	for _, host := range hosts {
		initHostMetrics(host)
	}
	p.addHosts(hosts)
	// Applied when the config starts; the last handler of the store wins
	// for the schedule and retention.
	h.app.register(p, st)
	return nil
}

// Validate re-reports the config check that Provision ran.
func (h *Handler) Validate() error {
	_, err := h.check()
	return err
}

// Cleanup releases this config's reference to the outbox; the last
// reference stops the workers and closes the file. Safe on a
// half-provisioned handler and when repeated.
func (h *Handler) Cleanup() error {
	if h.storePath == "" {
		return nil
	}
	key := h.storePath
	h.storePath, h.pooled = "", nil
	_, err := senders.Delete(key)
	return err
}

// The reasons of the handler's refusals.
var (
	errMethod      = errors.New("only POST is accepted")
	errTooLarge    = errors.New("body larger than max_body")
	errBodyRead    = errors.New("reading the request body failed")
	errContentType = errors.New("Content-Type must be application/json")
	errStore       = errors.New("the outbox could not store the event")
)

// retryAfterSeconds is the Retry-After of a 503: the outbox is not open
// yet or could not store the event.
const retryAfterSeconds = "5"

// acceptedResponse is the body of a 200 or 202.
type acceptedResponse struct {
	Deliveries []acceptedDelivery `json:"deliveries"`
}

type acceptedDelivery struct {
	ID       string `json:"id"`
	Endpoint int    `json:"endpoint"`
}

// ServeHTTP implements caddyhttp.MiddlewareHandler: Host, method, a
// browser page of another site, content type, body, event, one delivery
// per endpoint that takes the event, stored all or none, then the answer.
// The handler is terminal: next is never called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if !hostAllowed(r.Host, h.hostSet) {
		h.logger.Warn("request refused", zap.String("reason", reasonHostNotAllowed),
			zap.String("host", loggedHost(r.Host)), zap.String("remote_addr", r.RemoteAddr))
		return refuse(w, r, http.StatusMisdirectedRequest, reasonHostNotAllowed, errHostNotAllowed)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return caddyhttp.Error(http.StatusMethodNotAllowed, errMethod)
	}
	if err := fromOtherSite(r); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	// Also absent: a page may post without a preflight only without a
	// Content-Type or with a type other than JSON (see crosssite.go).
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return caddyhttp.Error(http.StatusUnsupportedMediaType, errContentType)
	}
	// No budget: the sidecar takes local applications' events only.
	body, err := webhook.ReadBody(r.Body, r.ContentLength, h.MaxBody, nil)
	switch {
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, errTooLarge)
	case err != nil:
		return caddyhttp.Error(http.StatusBadRequest, errBodyRead)
	}
	name, err := h.eventName(r, body)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}

	ds, resp, err := h.deliveries(name, body, time.Now())
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	status := http.StatusOK
	if len(ds) > 0 {
		if err := h.store(name, ds); err != nil {
			w.Header().Set("Retry-After", retryAfterSeconds)
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
		status = http.StatusAccepted
		for _, a := range resp.Deliveries {
			h.logger.Debug("delivery stored", zap.String("id", a.ID), zap.String("event", name),
				zap.Int("endpoint", a.Endpoint))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(resp)
}

// eventName reads the event type of a request with the receiver's checks
// of the handler's scheme, all but the signature's (gateway.ReadUnsigned:
// for ScreenshotCenter's, one strict JSON object with an "event", which
// X-ScreenshotCenter-Event, if any, names), and refuses a request that
// receiver would refuse once signed, with its reason. The bytes are
// delivered as they are.
func (h *Handler) eventName(r *http.Request, body []byte) (string, error) {
	ev, rf := gateway.ReadUnsigned(h.scheme, r.Header, body, time.Now())
	if rf != nil {
		return "", rf
	}
	return string(ev.Type), nil
}

// refuse answers a refused request: through the site's handle_errors when
// it has any (the error is returned), otherwise with a short JSON body
// such as {"status":421,"reason":"host_not_allowed"}; reason is one of the
// fixed codes.
func refuse(w http.ResponseWriter, r *http.Request, status int, reason string, err error) error {
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.Errors != nil && len(srv.Errors.Routes) > 0 {
		return caddyhttp.Error(status, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, werr := io.WriteString(w, `{"status":`+strconv.Itoa(status)+`,"reason":"`+reason+`"}`+"\n")
	return werr
}

// deliveries makes one pending delivery of the event per endpoint that
// takes it, with this handler's attempt budget and network settings, and
// the answer that lists them.
func (h *Handler) deliveries(name string, body []byte, now time.Time) ([]*sender.Delivery, acceptedResponse, error) {
	var ds []*sender.Delivery
	resp := acceptedResponse{Deliveries: []acceptedDelivery{}}
	for i, ep := range h.Endpoints {
		if !ep.takes(name) {
			continue
		}
		d, err := sender.NewDelivery(ep.URL, name, body, ep.secret, now)
		if err != nil {
			return nil, resp, err
		}
		d.MaxAttempts = h.Attempts
		d.Net = h.net
		if h.otherScheme() {
			d.Scheme = h.Scheme
		}
		ds = append(ds, d)
		resp.Deliveries = append(resp.Deliveries, acceptedDelivery{ID: d.ID, Endpoint: i})
	}
	return ds, resp, nil
}

// store enqueues ds durably, all or none; its error is the reason of a
// 503.
func (h *Handler) store(name string, ds []*sender.Delivery) error {
	s := h.pooled.Sender()
	if s == nil {
		return h.pooled.notOpen()
	}
	if err := s.Enqueue(ds...); err != nil {
		h.logger.Error("storing deliveries failed", zap.String("event", name), zap.Error(err))
		return errStore
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
