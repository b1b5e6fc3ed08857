// Package runtimes finds and starts the real Node.js, Python 3 and PHP
// interpreters for differential and end-to-end tests: long-lived processes
// that answer one line per request line, and a JSON round trip in each
// runtime's default settings.
//
// A missing runtime fails the test with a clear message: it never skips (CI
// installs node, python3 and php-cli), since a skipped comparison would hide
// exactly the differences these tests exist to find.
package runtimes

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Runtime is one installed interpreter.
type Runtime struct {
	// Name is "node", "python" or "php".
	Name string
	// Path is the interpreter's executable.
	Path string
	// Version is what the interpreter reports, e.g. "v20.20.2", "3.11.2",
	// "8.2.36".
	Version string
	// flags come before the script: settings that make the runtime use its
	// built-in defaults whatever the machine's configuration.
	flags []string
	// inline is the flag that runs a script given as text.
	inline string
}

// Node finds node on PATH.
func Node(tb testing.TB) Runtime {
	tb.Helper()
	return find(tb, "node", []string{"node"}, nil, "-e", "process.stdout.write(process.version)",
		"install Node.js (e.g. apt-get install nodejs)")
}

// Python finds /usr/bin/python3, or python3 on PATH. It runs in isolated mode
// (-I): PYTHON* environment variables (such as PYTHONINTMAXSTRDIGITS) and
// the user's site-packages do not apply.
func Python(tb testing.TB) Runtime {
	tb.Helper()
	return find(tb, "python", []string{"/usr/bin/python3", "python3"}, []string{"-I"}, "-c",
		"import platform,sys; sys.stdout.write(platform.python_version())",
		"install Python 3 (e.g. apt-get install python3)")
}

// PHP finds php on PATH. It runs without php.ini (-n), so the built-in
// defaults apply (serialize_precision -1, as in the php.ini files PHP ships).
func PHP(tb testing.TB) Runtime {
	tb.Helper()
	return find(tb, "php", []string{"php"}, []string{"-n"}, "-r", "echo PHP_VERSION;",
		"install the PHP CLI (e.g. apt-get install php-cli)")
}

var (
	foundMu sync.Mutex
	found   = map[string]Runtime{}
)

func find(tb testing.TB, name string, candidates, flags []string, inline, versionScript, install string) Runtime {
	tb.Helper()
	foundMu.Lock()
	defer foundMu.Unlock()
	if rt, ok := found[name]; ok {
		return rt
	}
	var path string
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		tb.Fatalf("runtimes: %s not found (looked for %s): %s to run these tests; they are never skipped",
			name, strings.Join(candidates, ", "), install)
	}
	rt := Runtime{Name: name, Path: path, flags: flags, inline: inline}
	out, err := rt.Command(context.Background(), versionScript).Output()
	if err != nil {
		tb.Fatalf("runtimes: %s --version: %v", path, err)
	}
	rt.Version = strings.TrimSpace(string(out))
	found[name] = rt
	return rt
}

// Command returns a command that runs script (source text, for PHP without
// the opening tag) with args after it.
func (rt Runtime) Command(ctx context.Context, script string, args ...string) *exec.Cmd {
	return rt.Exec(ctx, append([]string{rt.inline, script}, args...)...)
}

// String is "name version (path)", for test logs.
func (rt Runtime) String() string { return rt.Name + " " + rt.Version + " (" + rt.Path + ")" }
