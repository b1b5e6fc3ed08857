package sender

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestGuardCheck(t *testing.T) {
	g, err := NewGuard()
	if err != nil {
		t.Fatal(err)
	}
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::127.0.0.1",
		"10.0.0.1", "172.16.5.4", "192.168.1.1", "::ffff:192.168.1.1", "169.254.169.254",
		"::ffff:169.254.169.254", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "255.255.255.255",
		"fe80::1", "fc00::1", "fd12:3456::1", "64:ff9b::7f00:1", "2002:7f00:1::", "2001:db8::1",
		"198.18.0.1", "192.0.0.8", "ff02::1",
	}
	for _, s := range refused {
		if err := g.Check(netip.MustParseAddr(s)); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Check(%s) = %v, want refused", s, err)
		}
	}
	allowed := []string{"93.184.216.34", "8.8.8.8", "::ffff:8.8.8.8", "2606:4700::1111", "1.1.1.1"}
	for _, s := range allowed {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
	lo, _ := NewGuard("127.0.0.0/8")
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		if err := lo.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("allowlisted Check(%s) = %v", s, err)
		}
	}
	if err := lo.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("allowlist 127/8 let 10.0.0.1 through")
	}
	for _, addr := range []string{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", "[fe80::1%eth0]:80", "junk"} {
		if err := g.Control("tcp", addr, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control(%s) = %v, want refused", addr, err)
		}
	}
	if _, err := NewGuard("not-a-cidr"); err == nil {
		t.Error("NewGuard accepted a bad CIDR")
	}
}

// The guard runs in the dialer: a real connection to loopback is refused,
// by literal address, IPv4-mapped literal and name, unless allowlisted.
func TestGuardInDialer(t *testing.T) {
	rc := newReceiver(t, nil)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	strict, err := NewClient(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"http://127.0.0.1:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		"http://localhost:" + port + "/",
	} {
		d := newTestDelivery(t, u)
		res := strict.Do(context.Background(), d, 1)
		if !errors.Is(res.Err, ErrForbiddenAddress) {
			t.Errorf("%s: err = %v, want forbidden", u, res.Err)
		}
	}
	if n := len(rc.requests()); n != 0 {
		t.Fatalf("endpoint saw %d requests through the guard", n)
	}
	allowed := testClient(t, ClientOptions{Allow: []string{"127.0.0.0/8"}})
	for _, u := range []string{"http://127.0.0.1:" + port + "/", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		res := allowed.Do(context.Background(), newTestDelivery(t, u), 1)
		if res.Err != nil || res.Status != http.StatusNoContent {
			t.Errorf("%s allowlisted: %d %v", u, res.Status, res.Err)
		}
	}
}

// Allowlist prefixes in IPv4-mapped form match like their IPv4 form, for
// IPv4 and IPv4-mapped addresses alike.
func TestGuardMappedAllowlist(t *testing.T) {
	for _, tc := range []struct {
		allow, ip string
		ok        bool
	}{
		{"::ffff:10.0.0.0/104", "10.1.1.1", true},
		{"::ffff:10.0.0.0/104", "::ffff:10.1.1.1", true},
		{"::ffff:10.0.0.0/104", "11.1.1.1", true}, // public anyway
		{"::ffff:10.0.0.0/104", "192.168.1.1", false},
		{"::ffff:127.0.0.1/128", "127.0.0.1", true},
		{"::ffff:127.0.0.1/128", "127.0.0.2", false},
		{"10.0.0.0/8", "::ffff:10.1.1.1", true},
		{"::ffff:0:0/96", "10.1.1.1", true}, // every IPv4 address
	} {
		g, err := NewGuard(tc.allow)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Check(netip.MustParseAddr(tc.ip)); (err == nil) != tc.ok {
			t.Errorf("allow %s, %s: %v, want allowed %v", tc.allow, tc.ip, err, tc.ok)
		}
	}
}

// specialPurpose are the rows of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (iana-ipv4-special-registry, updated 2022;
// iana-ipv6-special-registry, updated 2025), checked row by row against
// the guard's deny list, plus the blocks outside the registries that the
// guard also refuses. Each sample is an address of the block (its first,
// last or a named address) that the guard, with an empty allowlist, must
// refuse. Written independently of the deny list in guard.go: a block
// missing there fails here.
var specialPurpose = []struct {
	block, name, rfc string
	samples          []string
}{
	// IPv4 Special-Purpose Address Registry.
	{"0.0.0.0/8", `"This network"`, "RFC 791", []string{"0.0.0.0", "0.255.255.255"}},
	{"0.0.0.0/32", `"This host on this network"`, "RFC 1122", []string{"0.0.0.0"}},
	{"10.0.0.0/8", "Private-Use", "RFC 1918", []string{"10.0.0.0", "10.255.255.255"}},
	{"100.64.0.0/10", "Shared Address Space", "RFC 6598", []string{"100.64.0.0", "100.127.255.255"}},
	{"127.0.0.0/8", "Loopback", "RFC 1122", []string{"127.0.0.1", "127.255.255.255"}},
	{"169.254.0.0/16", "Link Local", "RFC 3927", []string{"169.254.169.254", "169.254.255.255"}},
	{"172.16.0.0/12", "Private-Use", "RFC 1918", []string{"172.16.0.0", "172.31.255.255"}},
	{"192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", []string{"192.0.0.0", "192.0.0.255"}},
	{"192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", []string{"192.0.0.1", "192.0.0.7"}},
	{"192.0.0.8/32", "IPv4 dummy address", "RFC 7600", []string{"192.0.0.8"}},
	{"192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", []string{"192.0.0.9"}},
	{"192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", []string{"192.0.0.10"}},
	{"192.0.0.170/32, 192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 7050, RFC 8880", []string{"192.0.0.170", "192.0.0.171"}},
	{"192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", []string{"192.0.2.1"}},
	{"192.31.196.0/24", "AS112-v4", "RFC 7535", []string{"192.31.196.1", "192.31.196.255"}},
	{"192.52.193.0/24", "AMT", "RFC 7450", []string{"192.52.193.1", "192.52.193.255"}},
	{"192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", []string{"192.88.99.1"}},
	{"192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", []string{"192.88.99.2"}},
	{"192.168.0.0/16", "Private-Use", "RFC 1918", []string{"192.168.0.1", "192.168.255.255"}},
	{"192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", []string{"192.175.48.1", "192.175.48.255"}},
	{"198.18.0.0/15", "Benchmarking", "RFC 2544", []string{"198.18.0.1", "198.19.255.255"}},
	{"198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", []string{"198.51.100.1"}},
	{"203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", []string{"203.0.113.1"}},
	{"240.0.0.0/4", "Reserved", "RFC 1112", []string{"240.0.0.1", "254.255.255.255"}},
	{"255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919", []string{"255.255.255.255"}},
	// Outside the IPv4 registry: multicast (its own registry), whose
	// MCAST-TEST-NET is documentation.
	{"224.0.0.0/4", "Multicast", "RFC 5771", []string{"224.0.0.1", "233.252.0.1", "239.255.255.255"}},

	// IPv6 Special-Purpose Address Registry.
	{"::1/128", "Loopback Address", "RFC 4291", []string{"::1"}},
	{"::/128", "Unspecified Address", "RFC 4291", []string{"::"}},
	// IPv4-mapped addresses are what the kernel connects to as IPv4: the
	// guard judges the IPv4 address they map (so ::ffff:8.8.8.8 is
	// 8.8.8.8, allowed; see TestGuardCheck), which refuses every mapped
	// special-purpose address.
	{"::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", []string{"::ffff:0.0.0.0", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:192.0.0.9", "::ffff:255.255.255.255"}},
	{"64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", []string{"64:ff9b::7f00:1", "64:ff9b::808:808"}},
	{"64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", []string{"64:ff9b:1::1", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"}},
	{"100::/64", "Discard-Only Address Block", "RFC 6666", []string{"100::1", "100::ffff:ffff:ffff:ffff"}},
	{"100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", []string{"100:0:0:1::1", "100:0:0:1:ffff:ffff:ffff:ffff"}},
	{"2001::/23", "IETF Protocol Assignments", "RFC 2928", []string{"2001::1", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	{"2001::/32", "TEREDO", "RFC 4380, RFC 8190", []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2"}},
	{"2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", []string{"2001:1::1"}},
	{"2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", []string{"2001:1::2"}},
	{"2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", []string{"2001:1::3"}},
	{"2001:2::/48", "Benchmarking", "RFC 5180", []string{"2001:2::1"}},
	{"2001:3::/32", "AMT", "RFC 7450", []string{"2001:3::1"}},
	{"2001:4:112::/48", "AS112-v6", "RFC 7535", []string{"2001:4:112::1"}},
	{"2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", []string{"2001:10::1"}},
	{"2001:20::/28", "ORCHIDv2", "RFC 7343", []string{"2001:20::1"}},
	{"2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", []string{"2001:30::1"}},
	{"2001:db8::/32", "Documentation", "RFC 3849", []string{"2001:db8::1"}},
	{"2002::/16", "6to4", "RFC 3056", []string{"2002:7f00:1::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	{"2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", []string{"2620:4f:8000::1", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff"}},
	{"3fff::/20", "Documentation", "RFC 9637", []string{"3fff::1", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	{"5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", []string{"5f00::1"}},
	{"fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", []string{"fc00::1", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	{"fe80::/10", "Link-Local Unicast", "RFC 4291", []string{"fe80::1", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	// Outside the IPv6 registry.
	{"::/96", "IPv4-compatible (deprecated)", "RFC 4291", []string{"::127.0.0.1", "::10.0.0.1"}},
	{"::ffff:0:0:0/96", "IPv4-translated", "RFC 2765", []string{"::ffff:0:7f00:1", "::ffff:0:a00:1"}},
	{"fec0::/10", "Site-local (deprecated)", "RFC 3879", []string{"fec0::1"}},
	{"ff00::/8", "Multicast", "RFC 4291", []string{"ff02::1", "ff0e::1"}},
}

// Every special-purpose block is refused, at each of its samples; the
// public addresses right next to the blocks added from the registries are
// not.
func TestGuardRefusesSpecialPurposeBlocks(t *testing.T) {
	g, err := NewGuard()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range specialPurpose {
		for _, s := range row.samples {
			if err := g.Check(netip.MustParseAddr(s)); !errors.Is(err, ErrForbiddenAddress) {
				t.Errorf("%s (%s, %s): Check(%s) = %v, want refused", row.block, row.name, row.rfc, s, err)
			}
		}
	}
	for _, s := range []string{
		"192.31.195.255", "192.31.197.0", "192.52.192.255", "192.52.194.0", "192.175.47.255", "192.175.49.0",
		"2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", "2620:4f:8001::", "2001:200::1",
	} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed (next to a refused block)", s, err)
		}
	}
}
