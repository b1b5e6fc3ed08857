package gateway

import "testing"

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:4321", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
		{"example.com:80", "example.com:80"},
		{":80", ":80"},
		{"", ""},
	} {
		if got := ClientKey(tc.addr); got != tc.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ClientKey("192.0.2.1:4321") }); n != 0 {
		t.Errorf("ClientKey of an IPv4 address with a port: %v allocations, want 0", n)
	}
}
