package screenshotcentersender

import (
	"net/http"

	"github.com/scgate/scgate/caddymodule/internal/sameorigin"
)

// A browser page must not be able to make the sidecar sign an event: any
// page the operator opens could otherwise post to it on localhost (no
// CORS preflight is needed for a request without Content-Type, with
// text/plain or a form, nor for sendBeacon). Two checks stop it:
//
//   - The Content-Type must be application/json (checked in ServeHTTP):
//     a page can only send that cross-origin after a CORS preflight, which
//     the sidecar never answers, so the browser does not send the POST.
//   - Requests that say they come from a page of another origin (another
//     port of the same host included) are refused with 403
//     (fromOtherSite, see package sameorigin), in case a browser or an
//     extension sends them anyway.

// fromOtherSite returns why r comes from a browser page of another origin,
// or nil.
func fromOtherSite(r *http.Request) error { return sameorigin.Check(r) }
