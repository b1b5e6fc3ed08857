// Package caddyhome keeps an in-process Caddy (caddytest, or modules
// provisioned by a test) out of the real home directory. Caddy computes its
// default storage and autosave paths from the XDG variables while its
// package initialises, before a TestMain runs, so setting the variables is
// not enough: Isolate also points those paths at a temporary directory.
package caddyhome

import (
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

// Isolate points Caddy's data and config directories (storage, locks,
// certificates, instance.uuid, autosave.json) at a new temporary directory
// and returns a function that removes it. Call it first thing in TestMain.
func Isolate() (cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "scgate-caddyhome-")
	if err != nil {
		return nil, err
	}
	// For what Caddy computes when it is called (instance.uuid, the
	// sender's default outbox) and for child processes.
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	// For what Caddy computed at package initialisation.
	caddy.ConfigAutosavePath = filepath.Join(caddy.AppConfigDir(), "autosave.json")
	caddy.DefaultStorage = &certmagic.FileStorage{Path: caddy.AppDataDir()}
	return func() { os.RemoveAll(dir) }, nil
}

// Main is a TestMain body for packages that need nothing else:
//
//	func TestMain(m *testing.M) { caddyhome.Main(m) }
func Main(m interface{ Run() int }) {
	cleanup, err := Isolate()
	if err != nil {
		panic(err)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
