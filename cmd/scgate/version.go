package main

import (
	"runtime/debug"

	"github.com/caddyserver/caddy/v2"
)

// version is scgate's version when it is set at link time, for builds that
// carry neither a module version nor VCS information (the Dockerfile builds
// with -trimpath from a context without .git):
//
//	go build -ldflags "-X main.version=v1.2.0" ./cmd/scgate
var version string

// setVersion makes `scgate version`, `scgate --version` and `scgate environ`
// name scgate's version before Caddy's, as in
//
//	scgate v1.2.0, Caddy v2.11.9 h1:…
//
// Caddy registers the `version` command itself and refuses a second
// registration, but it prints caddy.CustomVersion in front of its own full
// version; Caddy's short version (its User-Agent, caddy_build_info) is left
// as it is.
func setVersion() {
	bi, _ := debug.ReadBuildInfo()
	caddy.CustomVersion = "scgate " + scgateVersion(bi, version) + ", Caddy"
}

// scgateVersion describes scgate's version: the one set at link time if
// any, else the main module's version (a release tag for `go install
// …@v1.2.0`, or "devel" in a checkout), followed by the VCS revision and
// whether the work tree was modified when the build recorded them.
func scgateVersion(bi *debug.BuildInfo, linked string) string {
	if linked != "" {
		return linked
	}
	if bi == nil {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var revision string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return v
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified {
		return v + " (revision " + revision + ", modified)"
	}
	return v + " (revision " + revision + ")"
}
