package screenshotcenterdashboard

import (
	"net/http"

	"go.uber.org/zap"
)

// NewHTTPHandler returns the dashboard as a plain http.Handler, for tests
// that serve it without Caddy.
func NewHTTPHandler(readOnly bool) (http.Handler, error) {
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &Handler{ReadOnly: readOnly, logger: zap.NewNop(), pages: pages}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeHTTP(w, r, nil); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}), nil
}
