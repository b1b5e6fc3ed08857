// Package screenshotcenterdashboard is the Caddy glue of scgate's web
// dashboard: the http.handlers.screenshotcenter_dashboard handler, which
// shows what the process's receivers answered (the event logs) and the
// deliveries of every outbox and inbox of the process, and retries or
// replays them. It reads them through caddymodule/internal/registry, where
// they register, so it needs no configuration and no handler to point to.
//
// Files: handler.go (registration, routing, the request path), pages.go
// (what each page shows, read from the registry), actions.go (retry and
// replay, and their cross-site defences), caddyfile.go (parsing only),
// templates/ and assets/ (embedded: no CDN, no build step).
package screenshotcenterdashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("screenshotcenter_dashboard", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("screenshotcenter_dashboard", httpcaddyfile.Before, "handle")
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Handler serves the dashboard. Mount it on a site of its own or under a
// path with handle_path (which strips the prefix): its links are relative,
// so it works under any prefix without configuration. Put it behind
// Caddy's authentication (basic_auth, forward_auth): it has none of its
// own, and whoever reaches it can read delivery metadata and (unless
// read_only) retry and replay deliveries.
type Handler struct {
	// ReadOnly turns the actions (retry, replay) off: their buttons are
	// not shown and their POSTs are refused with 403. Default: false
	// (actions on, protected by a same-origin check and a per-process
	// token).
	ReadOnly bool `json:"read_only,omitempty"`

	logger *zap.Logger
	pages  map[string]*template.Template
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.screenshotcenter_dashboard",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision parses the embedded templates.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	pages, err := parsePages()
	if err != nil {
		return err
	}
	h.pages = pages
	return nil
}

// parsePages parses each page's template with the layout.
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template)
	for _, name := range []string{"overview", "events", "deliveries", "delivery", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// ServeHTTP routes a request (its path as seen after any handle_path) to a
// page, an asset or an action. Paths it does not know are 404 for the
// site's handle_errors.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	path := r.URL.Path
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	setSecurityHeaders(w)
	switch {
	case len(parts) == 2 && parts[0] == "assets":
		return serveAsset(w, r, parts[1])
	case len(parts) == 0:
		return h.get(w, r, "overview", h.overview)
	case len(parts) == 1 && parts[0] == "events":
		return h.get(w, r, "events", h.events)
	case len(parts) == 1 && parts[0] == "deliveries":
		return h.get(w, r, "deliveries", h.deliveries)
	case len(parts) == 2 && parts[0] == "deliveries" && parts[1] == "bulk":
		return h.post(w, r, h.bulk)
	case len(parts) == 2 && parts[0] == "deliveries":
		return h.get(w, r, "delivery", func(r *http.Request) (any, error) { return h.delivery(r, parts[1]) })
	case len(parts) == 3 && parts[0] == "deliveries" && (parts[2] == "retry" || parts[2] == "replay" || parts[2] == "deliver-now"):
		return h.post(w, r, func(r *http.Request) (string, error) { return h.act(r, parts[1], parts[2]) })
	}
	return h.fail(w, r, http.StatusNotFound, "not_found", errors.New("no such page"))
}

// setSecurityHeaders keeps the pages out of frames (clickjacking on the
// action buttons), out of caches and out of the Referer headers of other
// sites, and lets them load only their own assets. The referrer policy is
// same-origin, not no-referrer: with no-referrer Chromium sends
// "Origin: null" with the dashboard's own forms, which the same-origin
// check must refuse.
func setSecurityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

// serveAsset serves an embedded stylesheet or script.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) error {
	b, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		return caddyhttp.Error(http.StatusNotFound, err)
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "max-age=300")
	_, err = w.Write(b)
	return err
}

// page is what every template gets.
type page struct {
	// Base is the relative path from the page to the dashboard's root
	// ("./", "../"): every link starts with it, so that the dashboard
	// works under any prefix.
	Base     string
	Title    string
	ReadOnly bool
	Token    string
	Data     any
}

// base returns the relative path from the URL path p to the dashboard's
// root.
func base(p string) string {
	depth := strings.Count(strings.TrimPrefix(p, "/"), "/")
	if depth == 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// get renders a page from the data fn reads.
func (h *Handler) get(w http.ResponseWriter, r *http.Request, name string, fn func(*http.Request) (any, error)) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return h.fail(w, r, http.StatusMethodNotAllowed, "method", errors.New("use GET"))
	}
	data, err := fn(r)
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) {
			return h.fail(w, r, he.StatusCode, he.ID, he.Err)
		}
		return h.fail(w, r, http.StatusInternalServerError, "read_failed", err)
	}
	return h.render(w, r, http.StatusOK, name, data)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	p := page{Base: base(r.URL.Path), Title: titles[name], ReadOnly: h.ReadOnly, Token: processToken, Data: data}
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, p); err != nil {
		h.logger.Error("rendering a dashboard page failed", zap.String("page", name), zap.Error(err))
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

var titles = map[string]string{
	"overview": "Overview", "events": "Event log", "deliveries": "Deliveries",
	"delivery": "Delivery", "error": "Error",
}

// errorPage is what the error template shows.
type errorPage struct {
	Status int
	Text   string
	Reason string
	Detail string
}

// fail answers with status and a page saying why, and logs the reason
// code.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason string, err error) error {
	lvl := h.logger.Info
	if status >= 500 {
		lvl = h.logger.Error
	}
	lvl("dashboard request refused", zap.Int("status", status), zap.String("reason", reason),
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	return h.render(w, r, status, "error", errorPage{Status: status, Text: http.StatusText(status), Reason: reason, Detail: err.Error()})
}

// pathEscape is url.PathEscape for templates.
func pathEscape(s string) string { return url.PathEscape(s) }

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
