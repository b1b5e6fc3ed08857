package gateway

import (
	"net/netip"
	"strings"
)

// ClientKey names the client at address addr (an IP, with or without a
// port) for the body budget's per-client share: an IPv4 address is itself,
// an IPv6 address counts as its /64, since one host or site is usually
// given a whole /64 and could otherwise take a share per address. An
// address that does not parse is its own key. An IPv4 address costs no
// allocation.
func ClientKey(addr string) string {
	host := addr
	// host:port or [host]:port; a bare IPv6 address has several colons and
	// no bracket.
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && (strings.HasPrefix(addr, "[") || strings.IndexByte(addr, ':') == i) {
		host = strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
	}
	if host == "" {
		return addr
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return addr
	case ip.Is4():
		return host // ParseAddr takes only the canonical dotted form
	case ip.Is4In6():
		return ip.Unmap().String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}
