package sender

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned (wrapped) when the SSRF guard refuses to
// connect to an address.
var ErrForbiddenAddress = errors.New("address is not allowed")

// forbidden lists the blocks of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (every row; narrower rows inside a listed block are
// covered by it), multicast, and the deprecated blocks that embed an IPv4
// address. A webhook endpoint has no business resolving to any of them:
// most are not globally reachable, and the rest are anycast services,
// documentation or translation prefixes (NAT64, 6to4, Teredo) that may
// reach internal IPv4 networks; on an IPv6-only host behind DNS64, allow
// 64:ff9b::/96 explicitly. guard_test.go holds the registry rows, checked
// one by one. An IPv4-mapped address is judged as the IPv4 address it maps
// (Check unmaps it first): that is what the kernel connects to.
var forbidden = mustPrefixes(
	// IPv4
	"0.0.0.0/8",       // "this" network
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (CGNAT)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local (cloud metadata)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments (PCP, TURN anycast, NAT64 discovery...)
	"192.0.2.0/24",    // TEST-NET-1
	"192.31.196.0/24", // AS112-v4
	"192.52.193.0/24", // AMT
	"192.88.99.0/24",  // 6to4 relay anycast (deprecated), 6a44 relay
	"192.168.0.0/16",  // private
	"192.175.48.0/24", // direct delegation AS112 service
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast (MCAST-TEST-NET included)
	"240.0.0.0/4",     // reserved, limited broadcast
	// IPv6
	"::/96",             // unspecified, loopback, IPv4-compatible (deprecated)
	"::ffff:0:0/96",     // IPv4-mapped: only reached if unmapping failed
	"::ffff:0:0:0/96",   // IPv4-translated (RFC 2765): embeds an IPv4 address
	"64:ff9b::/96",      // NAT64: may reach internal IPv4
	"64:ff9b:1::/48",    // local-use NAT64
	"100::/64",          // discard-only
	"100:0:0:1::/64",    // dummy prefix
	"2001::/23",         // IETF protocol assignments (Teredo, benchmarking, AMT, AS112, ORCHID, DETs, anycast)
	"2001:db8::/32",     // documentation
	"2002::/16",         // 6to4: embeds an IPv4 address
	"2620:4f:8000::/48", // direct delegation AS112 service
	"3fff::/20",         // documentation
	"5f00::/16",         // SRv6 SIDs
	"fc00::/7",          // unique local
	"fe80::/10",         // link-local
	"fec0::/10",         // site-local (deprecated)
	"ff00::/8",          // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard refuses connections to loopback, private, link-local and other
// special-purpose addresses unless an allowlisted prefix contains them. Its
// Control method runs in the dialer after DNS resolution, on the address
// actually connected to, so a name that resolves (or re-resolves, DNS
// rebinding) to a forbidden address is refused too. A nil *Guard allows
// everything.
type Guard struct {
	allow []netip.Prefix
}

// NewGuard returns a guard that allows the given CIDR prefixes (for example
// "127.0.0.0/8" in tests, or "10.1.2.0/24" for a known internal receiver).
// An IPv4-mapped prefix (::ffff:10.0.0.0/104) is taken as its IPv4 form.
func NewGuard(allow ...string) (*Guard, error) {
	g := &Guard{}
	for _, s := range allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allowlist entry %q: %w", s, err)
		}
		// ::ffff:10.0.0.0/104 means 10.0.0.0/8: Check sees unmapped
		// addresses.
		g.allow = append(g.allow, unmapPrefix(p.Masked()))
	}
	return g, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// its IPv4 form (10.0.0.0/8), which is what Check compares addresses with.
// A mapped prefix shorter than /96 also covers non-mapped IPv6 addresses
// and is left alone.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Check returns nil if ip may be connected to.
func (g *Guard) Check(ip netip.Addr) error {
	if g == nil {
		return nil
	}
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	ip = ip.WithZone("")
	un := ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) || p.Contains(un) {
			return nil
		}
	}
	if un.IsLoopback() || un.IsPrivate() || un.IsLinkLocalUnicast() || un.IsLinkLocalMulticast() ||
		un.IsMulticast() || un.IsUnspecified() || un.IsInterfaceLocalMulticast() {
		return fmt.Errorf("%w: %s is a special-purpose address", ErrForbiddenAddress, un)
	}
	for _, p := range forbidden {
		if p.Contains(un) {
			return fmt.Errorf("%w: %s is in %s", ErrForbiddenAddress, un, p)
		}
	}
	return nil
}

// Control is a net.Dialer Control function. address is the resolved
// "ip:port" being connected to.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	if g == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address", ErrForbiddenAddress, host)
	}
	return g.Check(ip)
}
