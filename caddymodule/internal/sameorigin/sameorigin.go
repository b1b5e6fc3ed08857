// Package sameorigin tells whether a request comes from a browser page of
// another origin, by the headers browsers add: Sec-Fetch-Site and Origin.
// The sender sidecar refuses such a request to sign an event, and the
// dashboard refuses it to act (retry, replay).
//
// Sec-Fetch-Site "same-site" is refused too: browsers count every port of
// a host as the same site, so a page on http://localhost:3000 posting to
// http://localhost:8081 is "same-site", not "cross-site". Only
// "same-origin" and "none" (a request the user started, not a page) pass,
// and requests without the header (programs, older browsers).
package sameorigin

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Why Check refuses a request.
var (
	ErrOtherSiteFetch = errors.New("Sec-Fetch-Site shows a browser page of another origin")
	ErrOtherOrigin    = errors.New("Origin is not the server's own origin")
)

// Check returns why r comes from a browser page of another origin, or nil.
func Check(r *http.Request) error {
	for _, site := range r.Header.Values("Sec-Fetch-Site") {
		if site != "same-origin" && site != "none" {
			return ErrOtherSiteFetch
		}
	}
	for _, origin := range r.Header.Values("Origin") {
		if !isOwnOrigin(origin, r) {
			return ErrOtherOrigin
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
