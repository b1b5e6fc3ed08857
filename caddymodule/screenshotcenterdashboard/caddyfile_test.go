package screenshotcenterdashboard

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tt := range []struct {
		in       string
		readOnly bool
		err      bool
	}{
		{"screenshotcenter_dashboard", false, false},
		{"screenshotcenter_dashboard {\n}", false, false},
		{"screenshotcenter_dashboard {\n read_only\n}", true, false},
		{"screenshotcenter_dashboard {\n read_only yes\n}", false, true},
		{"screenshotcenter_dashboard {\n secret x\n}", false, true},
		{"screenshotcenter_dashboard extra", false, true},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if (err != nil) != tt.err || h.ReadOnly != tt.readOnly {
			t.Errorf("%q: read_only %v, error %v; want %v, error %v", tt.in, h.ReadOnly, err, tt.readOnly, tt.err)
		}
	}
}

func TestBase(t *testing.T) {
	for p, want := range map[string]string{"/": "./", "/events": "./", "/deliveries/x": "../", "/deliveries/x/retry": "../../", "/deliveries/": "../"} {
		if got := base(p); got != want {
			t.Errorf("base(%q) = %q, want %q", p, got, want)
		}
	}
}
