package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// TestGatewayImage runs the image as the README's Docker section does:
// Caddyfile.example mounted, UPSTREAM naming the application's container,
// only the gateway's port published (on 127.0.0.1 here).
func TestGatewayImage(t *testing.T) {
	requireImages(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	network := prefix + "-image"
	removeLater(t, "network", network)
	podman(t, "network", "create", network)

	app := prefix + "-image-app"
	startContainer(t, app, "--network", network,
		"--env", "SCREENSHOTCENTER_WEBHOOK_SECRET="+secret, appImage, "-addr", ":9090")

	gw := prefix + "-image-gateway"
	port := gatewaytest.FreePort(t)
	// "app" resolves through /etc/hosts: the DNS server of podman 4.3's
	// networks now and then lets a lookup time out.
	startContainer(t, gw, "--network", network, "--add-host", "app:"+containerIP(t, app),
		"--publish", fmt.Sprintf("127.0.0.1:%d:8080", port),
		"--env", "SCREENSHOTCENTER_WEBHOOK_SECRET="+secret,
		"--env", "UPSTREAM=app:9090",
		"--volume", filepath.Join(root, "Caddyfile.example")+":/etc/caddy/Caddyfile:ro",
		gatewayImage)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitServing(t, base+"/")

	t.Run("version", func(t *testing.T) {
		out := podman(t, "run", "--rm", gatewayImage, "version")
		if !regexp.MustCompile(`^scgate ` + regexp.QuoteMeta(testVersion) + `, Caddy v2\.\d+\.\d+ `).MatchString(out) {
			t.Errorf("scgate version in the image printed %q, want scgate %s and Caddy's version", out, testVersion)
		}
	})

	t.Run("signed event forwarded, unsigned refused", func(t *testing.T) {
		checkGuarded(t, base+"/webhooks/screenshot", app)
	})

	t.Run("health check without a shell", func(t *testing.T) {
		got := strings.TrimSpace(podman(t, "image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", gatewayImage))
		if got != `["CMD","/usr/bin/scgate","healthcheck"]` {
			t.Errorf("image health check %s, want the exec form of scgate healthcheck", got)
		}
		if res := podmanCode(t, "healthcheck", "run", gw); res.code != 0 {
			t.Errorf("podman healthcheck run: exit %d: %s%s", res.code, res.stdout, res.stderr)
		}
		// The same command fails when what it asks does not answer 2xx.
		res := podmanCode(t, "exec", gw, "/usr/bin/scgate", "healthcheck", "--url", "http://127.0.0.1:8080/elsewhere")
		if res.code != 1 || !strings.Contains(res.stderr, "answered 404 Not Found") {
			t.Errorf("healthcheck of a 404: exit %d, stderr %q; want 1 and the status", res.code, res.stderr)
		}
	})

	t.Run("runs as non-root", func(t *testing.T) {
		pid := inspect(t, gw, "{{.State.Pid}}")
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{"Uid", "Gid"} {
			m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(string(status))
			if m == nil {
				t.Fatalf("no %s line in /proc/%s/status", field, pid)
			}
			for _, id := range m[1:] {
				if n, _ := strconv.Atoi(id); n != 65532 {
					t.Errorf("scgate runs with %s %s, want 65532 (nonroot)", field, strings.Join(m[1:], " "))
					break
				}
			}
		}
	})

	t.Run("CA certificates", func(t *testing.T) {
		// Where Go looks first on Linux; the image has no other bundle.
		const bundle = "/etc/ssl/certs/ca-certificates.crt"
		dir := t.TempDir()
		podman(t, "cp", gw+":"+bundle, dir)
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(bundle)))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(bundle)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got), "BEGIN CERTIFICATE") || string(got) != string(want) {
			t.Errorf("the image's %s (%d bytes) is not the CA bundle it was built with (%d bytes)", bundle, len(got), len(want))
		}
	})

	t.Run("data and config directories writable", func(t *testing.T) {
		// `scgate storage export` writes a file as the container's user.
		for _, dir := range []string{"/data", "/config"} {
			res := podmanCode(t, "exec", gw, "/usr/bin/scgate", "storage", "export",
				"--config", "/etc/caddy/Caddyfile", "--output", dir+"/export.tar")
			if res.code != 0 {
				t.Errorf("writing into %s: exit %d: %s", dir, res.code, res.stderr)
			}
		}
		// The root directory is not the user's: the same write fails.
		if res := podmanCode(t, "exec", gw, "/usr/bin/scgate", "storage", "export",
			"--config", "/etc/caddy/Caddyfile", "--output", "/export.tar"); res.code == 0 {
			t.Errorf("the container's user could write into /: it is not the unprivileged user")
		}
	})
}
