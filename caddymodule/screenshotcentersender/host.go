package screenshotcentersender

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The sidecar signs for whoever can make a request reach it with a Host it
// takes, so it takes only the names it is known by:
//
//   - DNS rebinding: a page of attacker.example, once the name resolves to
//     127.0.0.1, posts to the sidecar as its own origin (Host and Origin
//     attacker.example, Sec-Fetch-Site same-origin), which the cross-site
//     check (crosssite.go) cannot tell from the sidecar's own pages. The
//     Host is the one thing such a request cannot choose, so only a
//     loopback name or address (localhost, 127.0.0.0/8, ::1) or a name of
//     allowed_hosts is taken; anything else is refused with 421 Misdirected
//     Request (the request was sent to a name this server does not serve),
//     reason host_not_allowed.
//   - The network: the Host check does not stop a host that reaches the
//     port, as it can send any Host. A site that listens beyond loopback
//     without allowed_hosts (a sign it was meant to be local) is warned
//     about when the config loads (listensBeyondLoopback).

// reasonHostNotAllowed is the reason code of a request whose Host is
// neither a loopback name or address nor in allowed_hosts.
const reasonHostNotAllowed = "host_not_allowed"

var errHostNotAllowed = errors.New("the Host is not a loopback name or address, nor in allowed_hosts")

// maxLoggedHost bounds the Host written to the log.
const maxLoggedHost = 256

// hostKey returns the host of a Host header or an allowed_hosts entry in
// the form they are compared in: without port or brackets, lower case,
// without a trailing dot; an IP address in its canonical form (an
// IPv4-mapped IPv6 address as IPv4). ok is false for an empty host.
func hostKey(host string) (key string, ip netip.Addr, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return "", netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		return a.String(), a, true
	}
	return host, netip.Addr{}, true
}

// hostAllowed reports whether the Host header host is a loopback name or
// address, or one of allowed (keys from allowedHostSet).
func hostAllowed(host string, allowed map[string]struct{}) bool {
	key, ip, ok := hostKey(host)
	switch {
	case !ok:
		return false
	case key == "localhost", ip.IsValid() && ip.IsLoopback():
		return true
	}
	_, listed := allowed[key]
	return listed
}

// allowedHostSet checks the allowed_hosts entries (host names or IP
// addresses, no port, no scheme, no wildcard) and returns their keys.
func allowedHostSet(hosts []string) (map[string]struct{}, error) {
	if len(hosts) == 0 {
		return nil, nil
	}
	set := make(map[string]struct{}, len(hosts))
	for _, h := range hosts {
		_, _, portErr := net.SplitHostPort(h)
		key, ip, ok := hostKey(h)
		if !ok || portErr == nil || (!ip.IsValid() && !isHostName(key)) || ip.Zone() != "" {
			return nil, fmt.Errorf("allowed_hosts: %q is not a host name or IP address (write it without scheme, port or wildcard)", h)
		}
		set[key] = struct{}{}
	}
	return set, nil
}

// isHostName reports whether s (lower case) is a DNS host name: dot
// separated labels of letters, digits, hyphens and underscores, 1 to 63
// bytes each, 253 in all.
func isHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// loggedHost is host as it may appear in the log: bounded in length.
func loggedHost(host string) string {
	if len(host) > maxLoggedHost {
		return host[:maxLoggedHost] + "…"
	}
	return host
}

// listensBeyondLoopback returns the listen addresses of the server a
// handler is provisioned in (Caddy's http app puts it in the provisioning
// context) that are reachable from beyond this host: every address but a
// loopback IP, localhost and a Unix socket. An address that cannot be
// judged (a file descriptor inherited from a supervisor, a host name) is
// counted as reachable. nil when the server is unknown.
func listensBeyondLoopback(ctx caddy.Context) []string {
	srv, _ := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		return nil
	}
	var out []string
	for _, addr := range srv.Listen {
		na, err := caddy.ParseNetworkAddress(addr)
		if err == nil && na.IsUnixNetwork() {
			continue
		}
		if err == nil && !na.IsFdNetwork() {
			if strings.EqualFold(na.Host, "localhost") {
				continue
			}
			if ip, err := netip.ParseAddr(na.Host); err == nil && ip.Unmap().IsLoopback() {
				continue
			}
		}
		out = append(out, addr)
	}
	return out
}
