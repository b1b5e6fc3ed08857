package containers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// sidecarCaddyfile is the gateway's whole config in the sidecar pattern:
// it shares the pod's network namespace with the application, which
// listens on the pod's loopback only.
const sidecarCaddyfile = `{
	admin localhost:2019
	auto_https off
	persist_config off
}

:8080 {
	screenshotcenter_webhook {
		secret {env.SCREENSHOTCENTER_WEBHOOK_SECRET}
	}
	reverse_proxy 127.0.0.1:9090
}
`

// TestSidecarPod puts the unchanged example application (its default
// address, 127.0.0.1:9090) and the gateway in one pod that publishes only
// the gateway's port.
func TestSidecarPod(t *testing.T) {
	requireImages(t)
	caddyfile := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(sidecarCaddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := prefix + "-sidecar"
	port := gatewaytest.FreePort(t)
	removeLater(t, "pod", pod)
	podman(t, "pod", "create", "--name", pod, "--publish", fmt.Sprintf("127.0.0.1:%d:8080", port))

	app := pod + "-app"
	startContainer(t, app, "--pod", pod, "--env", "SCREENSHOTCENTER_WEBHOOK_SECRET="+secret, appImage)
	gw := pod + "-gateway"
	startContainer(t, gw, "--pod", pod, "--env", "SCREENSHOTCENTER_WEBHOOK_SECRET="+secret,
		"--volume", caddyfile+":/etc/caddy/Caddyfile:ro", gatewayImage)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitServing(t, base+"/")

	checkGuarded(t, base+"/", app)

	// Only the gateway's port is published.
	published := inspect(t, gw, "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{range $b}}{{.HostIP}}:{{.HostPort}}{{end}} {{end}}")
	if want := fmt.Sprintf("8080/tcp=127.0.0.1:%d", port); published != want {
		t.Errorf("the pod publishes %q, want only %q", published, want)
	}
	// From outside the pod, at the pod's own address on podman's network,
	// the gateway answers and the application's port is closed.
	ip := podIP(t, pod)
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "8080"), 5*time.Second); err != nil {
		t.Errorf("the gateway is not reachable at the pod's address %s:8080: %v", ip, err)
	} else {
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "9090"), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the application's port is reachable from outside the pod at %s:9090", ip)
	}
}
