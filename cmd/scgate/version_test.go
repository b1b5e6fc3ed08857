package main

import (
	"debug/buildinfo"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestScgateVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-03-01T12:00:00Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "0df5c941e4ca957e2bea483c1340d12738ec3c62"
	for _, tc := range []struct {
		name   string
		bi     *debug.BuildInfo
		linked string
		want   string
	}{
		{"no build information", nil, "", "unknown"},
		{"set at link time wins", &debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}}, "v1.2.3", "v1.2.3"},
		{"go install of a release", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "", "v1.2.0"},
		{"checkout without VCS stamping", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "", "devel"},
		{"empty module version", &debug.BuildInfo{}, "", "devel"},
		{"clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "",
			"devel (revision 0df5c941e4ca)"},
		{"modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "",
			"devel (revision 0df5c941e4ca, modified)"},
		{"pseudo-version stamped from VCS", &debug.BuildInfo{
			Main:     debug.Module{Version: "v0.0.0-20260301120000-0df5c941e4ca+dirty"},
			Settings: vcs(rev, "true")}, "",
			"v0.0.0-20260301120000-0df5c941e4ca+dirty (revision 0df5c941e4ca, modified)"},
		{"short revision kept whole", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: vcs("abc123", "false")}, "",
			"v1.2.0 (revision abc123)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scgateVersion(tc.bi, tc.linked); got != tc.want {
				t.Errorf("scgateVersion = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionCommand runs the built binary: `scgate version` and `scgate
// --version` print scgate's version (from the binary's own build
// information) and then Caddy's module version.
func TestVersionCommand(t *testing.T) {
	bin := gatewaytest.Binary(t)
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var caddyDep *debug.Module
	for _, d := range bi.Deps {
		if d.Path == "github.com/caddyserver/caddy/v2" {
			caddyDep = d
		}
	}
	if caddyDep == nil {
		t.Fatal("the binary's build information has no Caddy module")
	}
	want := "scgate " + scgateVersion(bi, "") + ", Caddy " + caddyDep.Version + " " + caddyDep.Sum + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := gatewaytest.Run(t, nil, args...)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("scgate %s: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", args[0], code, stdout, stderr, want)
		}
	}
	// Caddy's short version, used in its User-Agent and build metrics, is
	// left alone.
	stdout, _, _ := gatewaytest.Run(t, nil, "environ")
	if !strings.Contains(stdout, "caddy.Version="+strings.TrimSuffix(want, "\n")+"\n") {
		t.Errorf("scgate environ does not show %q:\n%s", want, stdout)
	}
}
