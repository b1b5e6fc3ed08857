package runtimes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// npmInstallTimeout bounds one `npm ci`; the first one downloads every
// package from the registry.
const npmInstallTimeout = 5 * time.Minute

// npmInstallFiles are the files of a project that decide its node_modules.
var npmInstallFiles = []string{"package.json", "package-lock.json"}

// NodeModules returns a node_modules directory installed with `npm ci` from
// projectDir's package.json and package-lock.json. Installs are kept in the
// system temporary directory under a name derived from the hash of those
// files, so a later test run with the same lockfile reuses one at once and a
// changed lockfile gets a fresh install. npm needs nothing but the registry
// (no install scripts run, no audit). A missing npm or a failed install
// fails tb: the tests that need the packages are never skipped.
func NodeModules(tb testing.TB, projectDir string) string {
	tb.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		tb.Fatalf("runtimes: npm not found: install it (e.g. apt-get install npm) to run these tests; they are never skipped")
	}
	h := sha256.New()
	for _, name := range npmInstallFiles {
		b, err := os.ReadFile(filepath.Join(projectDir, name))
		if err != nil {
			tb.Fatalf("runtimes: %v", err)
		}
		h.Write([]byte(name + "\x00"))
		h.Write(b)
		h.Write([]byte{0})
	}
	final := filepath.Join(os.TempDir(), "scgate-node-modules-"+hex.EncodeToString(h.Sum(nil))[:16])
	// The marker is written last: a directory without it is an install
	// that broke off.
	marker := filepath.Join(final, ".npm-ci-complete")
	if _, err := os.Stat(marker); err == nil {
		return filepath.Join(final, "node_modules")
	}

	// Install next to the final place and rename it there, so that a
	// concurrent test process never sees a half-installed directory.
	work, err := os.MkdirTemp(os.TempDir(), "scgate-npm-ci-")
	if err != nil {
		tb.Fatalf("runtimes: %v", err)
	}
	defer os.RemoveAll(work)
	for _, name := range npmInstallFiles {
		b, _ := os.ReadFile(filepath.Join(projectDir, name))
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			tb.Fatalf("runtimes: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = work
	// npm's download cache goes with the install, not into $HOME.
	cmd.Env = append(os.Environ(),
		"npm_config_cache="+filepath.Join(work, ".npm-cache"),
		"npm_config_update_notifier=false")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("runtimes: npm ci for %s failed (%v); it needs the npm registry:\n%s", projectDir, err, out)
	}
	tb.Logf("runtimes: npm ci for %s took %v", projectDir, time.Since(start).Round(time.Millisecond))
	if err := os.RemoveAll(filepath.Join(work, ".npm-cache")); err != nil {
		tb.Fatalf("runtimes: %v", err)
	}
	if err := os.WriteFile(filepath.Join(work, ".npm-ci-complete"), nil, 0o644); err != nil {
		tb.Fatalf("runtimes: %v", err)
	}
	if err := os.Rename(work, final); err != nil {
		// Another process got there first, or a broken-off install is in
		// the way.
		if _, statErr := os.Stat(marker); statErr != nil {
			if err := os.RemoveAll(final); err != nil {
				tb.Fatalf("runtimes: removing the broken install %s: %v", final, err)
			}
			if err := os.Rename(work, final); err != nil {
				tb.Fatalf("runtimes: %v", err)
			}
		}
	}
	return filepath.Join(final, "node_modules")
}
