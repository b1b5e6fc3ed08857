package screenshotcentersender

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/scgate/scgate/sender"
	"github.com/scgate/scgate/webhook"
)

var (
	errMethod      = errors.New("only POST is accepted")
	errTooLarge    = errors.New("body larger than max_body")
	errBodyRead    = errors.New("reading the request body failed")
	errContentType = errors.New("Content-Type must be application/json")
	errEventHdr    = errors.New("X-ScreenshotCenter-Event differs from the body's event")
	errStore       = errors.New("the outbox could not store the event")
)

type acceptedDelivery struct {
	ID       string `json:"id"`
	Endpoint int    `json:"endpoint"`
}

type acceptedResponse struct {
	Deliveries []acceptedDelivery `json:"deliveries"`
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. The handler is
// terminal: next is never called.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return caddyhttp.Error(http.StatusMethodNotAllowed, errMethod)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return caddyhttp.Error(http.StatusUnsupportedMediaType, errContentType)
		}
	}
	body, err := webhook.ReadBody(r.Body, r.ContentLength, h.MaxBody)
	switch {
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return caddyhttp.Error(http.StatusRequestEntityTooLarge, errTooLarge)
	case err != nil:
		return caddyhttp.Error(http.StatusBadRequest, errBodyRead)
	}
	// The bytes are delivered as they are: they must be one valid JSON
	// object whose fields the receiver gateway reads are well formed
	// (webhook.Parse validates the whole body).
	fields, err := webhook.Parse(body)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	name := string(fields.Event)
	for _, v := range r.Header.Values(webhook.HeaderEvent) {
		if v != name {
			return caddyhttp.Error(http.StatusBadRequest, errEventHdr)
		}
	}

	now := time.Now()
	var ds []*sender.Delivery
	resp := acceptedResponse{Deliveries: []acceptedDelivery{}}
	for i, ep := range h.Endpoints {
		if ep.events != nil {
			if _, ok := ep.events[name]; !ok {
				continue
			}
		}
		d, err := sender.NewDelivery(ep.URL, name, body, ep.secret, now)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		d.MaxAttempts = h.Attempts
		d.Net = h.net
		ds = append(ds, d)
		resp.Deliveries = append(resp.Deliveries, acceptedDelivery{ID: d.ID, Endpoint: i})
	}
	status := http.StatusOK
	if len(ds) > 0 {
		s := h.pooled.Sender()
		if s == nil {
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, h.pooled.notOpen())
		}
		if err := s.Enqueue(ds...); err != nil {
			h.logger.Error("storing deliveries failed", zap.String("event", name), zap.Error(err))
			w.Header().Set("Retry-After", "5")
			return caddyhttp.Error(http.StatusServiceUnavailable, errStore)
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
