package screenshotcentersender_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}

const (
	secret1 = "sidecar-secret-one"
	secret2 = "sidecar-secret-two"
)

// scgate runs the built binary with args and returns its output (stdout
// and stderr) and exit code.
func scgate(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := scgateSplit(t, env, args...)
	return stdout + stderr, code
}

// scgateSplit runs the built binary with args and returns its stdout, its
// stderr and its exit code.
func scgateSplit(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gatewaytest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// waitTimeout bounds every wait for something a gateway does in the
// background.
const waitTimeout = 30 * time.Second

func waitCount(t *testing.T, up *gatewaytest.Upstream, n int) {
	t.Helper()
	eventually.Succeeds(t, waitTimeout, func() error {
		if c := up.Count(); c < n {
			return fmt.Errorf("upstream saw %d requests, want %d", c, n)
		}
		return nil
	})
}

func post(t *testing.T, url, ct, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func sidecarConfig(up1, up2, store string, extra string) string {
	return `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	screenshotcenter_sender {
		endpoint ` + up1 + `/hook {
			secret {env.SC_SECRET1}
		}
		endpoint ` + up2 + `/batches {
			secret {env.SC_SECRET2}
			events batch.finished
		}
		store ` + store + `
		allow 127.0.0.0/8
		backoff 20ms
		` + extra + `
	}
}`
}
