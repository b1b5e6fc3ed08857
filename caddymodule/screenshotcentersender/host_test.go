package screenshotcentersender

import "testing"

// The Host check: loopback names and addresses in any spelling a client
// may send, the allowed_hosts names, and nothing that merely starts or ends
// like them.
func TestHostAllowed(t *testing.T) {
	allowed, err := allowedHostSet([]string{"Sidecar.Internal.", "10.0.0.7", "[fd00::7]"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"localhost:8081", true},
		{"LOCALHOST.:8081", true},
		{"127.0.0.1:8081", true},
		{"127.255.0.9", true},
		{"[::1]:8081", true},
		{"[::1]", true},
		{"[::ffff:127.0.0.1]:8081", true},
		{"sidecar.internal:8081", true},
		{"sidecar.internal", true},
		{"10.0.0.7:80", true},
		{"[fd00::7]:8081", true},
		{"[::ffff:10.0.0.7]:8081", true},
		{"", false},
		{":8081", false},
		{"attacker.example:8081", false},
		{"localhost.attacker.example", false},
		{"attacker-localhost", false},
		{"127.0.0.1.nip.io:8081", false},
		{"sidecar.internal.attacker.example", false},
		{"internal", false},
		{"10.0.0.8", false},
		{"0.0.0.0:8081", false},
		{"[::]:8081", false},
		{"192.168.1.20:8081", false},
		{"2130706433", false},
	}
	for _, tt := range tests {
		if got := hostAllowed(tt.host, allowed); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if hostAllowed("sidecar.internal", nil) {
		t.Error("a name is taken without allowed_hosts")
	}
}

func TestAllowedHostSetRefusesWhatIsNotAHost(t *testing.T) {
	for _, h := range []string{"", "sidecar:8081", "[fd00::1]:80", "http://sidecar", "*.internal", "user@sidecar",
		"side car", "sidecar/x", "a..b", "-a.b", "fe80::1%eth0"} {
		if _, err := allowedHostSet([]string{h}); err == nil {
			t.Errorf("allowed_hosts %q accepted", h)
		}
	}
	if _, err := allowedHostSet([]string{"sidecar", "side_car.svc.cluster.local", "10.1.2.3", "fd00::1", "[fd00::2]"}); err != nil {
		t.Error(err)
	}
}
