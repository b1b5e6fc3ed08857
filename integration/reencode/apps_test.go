package reencode_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/runtimes"
)

// secret is shared by the gateway and the example handlers.
const secret = "e2e-reencode-secret"

// exampleApp is one example handler from examples/: the directory, the
// reencode style its gateway needs, and how to start it.
type exampleApp struct {
	dir   string
	style string
	start func(t *testing.T, dir, addr string) *runtimes.Server
}

var exampleApps = []exampleApp{
	{"express", "js", startExpress},
	{"python", "python", startPython},
	{"php", "php", startPHP},
}

// exampleDir is the absolute path of examples/<name>.
func exampleDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// appEnv is the environment every example reads: its secret and, for those
// that take it from the environment, its address.
func appEnv(addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	return []string{"WEBHOOK_SECRET=" + secret, "HOST=" + host, "PORT=" + port}
}

// startExpress runs examples/express/server.js with node, its packages
// installed by `npm ci` from the example's lockfile. The script and
// package.json are copied next to a link to the installed node_modules, so
// the example directory is used as shipped and never gets a node_modules.
func startExpress(t *testing.T, dir, addr string) *runtimes.Server {
	t.Helper()
	modules := runtimes.NodeModules(t, dir)
	app := t.TempDir()
	for _, name := range []string{"server.js", "package.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(app, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return runtimes.StartServer(t, runtimes.Node(t), runtimes.ServerOptions{
		Addr: addr, Dir: app, Args: []string{"server.js"}, Env: appEnv(addr),
	})
}

// startPython runs examples/python/server.py with python3 (isolated mode).
func startPython(t *testing.T, dir, addr string) *runtimes.Server {
	t.Helper()
	return runtimes.StartServer(t, runtimes.Python(t), runtimes.ServerOptions{
		Addr: addr, Dir: dir, Args: []string{"server.py"}, Env: appEnv(addr),
	})
}

// startPHP serves examples/php/index.php with PHP's built-in server (no
// php.ini: PHP's built-in defaults).
func startPHP(t *testing.T, dir, addr string) *runtimes.Server {
	t.Helper()
	return runtimes.StartServer(t, runtimes.PHP(t), runtimes.ServerOptions{
		Addr: addr, Dir: dir, Args: []string{"-S", addr, "index.php"}, Env: appEnv(addr),
	})
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(gatewaytest.FreePort(t))
}
