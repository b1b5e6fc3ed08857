package screenshotcentersender

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// A browser page must not be able to make the sidecar sign an event: any
// page the operator opens could otherwise post to it on localhost (no
// CORS preflight is needed for a request without Content-Type, with
// text/plain or a form, nor for sendBeacon). Two checks stop it:
//
//   - The Content-Type must be application/json (checked in ServeHTTP):
//     a page can only send that cross-origin after a CORS preflight, which
//     the sidecar never answers, so the browser does not send the POST.
//   - Requests that say they come from a page of another origin are
//     refused with 403 (fromOtherSite), in case a browser or an extension
//     sends them anyway.
//
// Sec-Fetch-Site "same-site" is refused too: browsers count every port of
// a host as the same site, so a page on http://localhost:3000 posting to
// a sidecar on http://localhost:8081 is "same-site", not "cross-site".
// Only "same-origin" and "none" (a request the user started, not a page)
// pass, and requests without the header (programs, older browsers).
var (
	errOtherSiteFetch = errors.New("Sec-Fetch-Site shows a browser page of another origin")
	errOtherOrigin    = errors.New("Origin is not the sidecar's own origin")
)

// fromOtherSite returns why r comes from a browser page of another origin,
// or nil.
func fromOtherSite(r *http.Request) error {
	for _, site := range r.Header.Values("Sec-Fetch-Site") {
		if site != "same-origin" && site != "none" {
			return errOtherSiteFetch
		}
	}
	for _, origin := range r.Header.Values("Origin") {
		if !isOwnOrigin(origin, r) {
			return errOtherOrigin
		}
	}
	return nil
}

// isOwnOrigin reports whether origin (scheme://host[:port], as browsers
// send it) is the origin r was sent to. "null" (an opaque origin: a
// sandboxed frame, a file: page) never is.
func isOwnOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && hostPort(scheme, u.Host) == hostPort(scheme, r.Host)
}

// hostPort returns host with its port (the scheme's default if it has
// none), lower-cased.
func hostPort(scheme, host string) string {
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = strings.Trim(host, "[]"), "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(net.JoinHostPort(h, port))
}
