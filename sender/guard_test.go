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
