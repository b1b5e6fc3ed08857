package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// prefix starts the name of everything this test process creates, so that
// two runs on one machine never meet and leftovers are recognisable.
var prefix = fmt.Sprintf("scgate-ctest-%d", os.Getpid())

// commandTimeout bounds one podman command (an image build included).
const commandTimeout = 3 * time.Minute

// podmanResult is what one podman command did.
type podmanResult struct {
	stdout, stderr string
	code           int
}

// runPodman runs podman with args. It returns an error only if podman could
// not be run at all (not installed) or did not finish in time; a non-zero
// exit is in the result.
func runPodman(args ...string) (podmanResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := podmanResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok && ctx.Err() == nil {
		res.code = ee.ExitCode()
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("podman %s did not finish within %v", strings.Join(args, " "), commandTimeout)
	}
	if err != nil {
		return res, fmt.Errorf("podman cannot be run (install the Debian packages podman, catatonit, runc, netavark, aardvark-dns and iptables, as .ci/run does): %w", err)
	}
	return res, nil
}

// podman runs podman with args and returns its stdout; it fails t, with
// podman's stderr, if podman exits non-zero.
func podman(t testing.TB, args ...string) string {
	t.Helper()
	res := podmanCode(t, args...)
	if res.code != 0 {
		t.Fatalf("podman %s: exit status %d\n%s%s%s", strings.Join(args, " "), res.code, res.stderr, res.stdout, netavarkHint(res.stderr))
	}
	return res.stdout
}

// podmanCode runs podman with args for a test that judges the exit status
// itself; it fails t only if podman cannot be run.
func podmanCode(t testing.TB, args ...string) podmanResult {
	t.Helper()
	res, err := runPodman(args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// removeLater removes a podman object of kind "container", "pod",
// "network", "volume" or "secret" when the test ends, whatever happened.
func removeLater(t testing.TB, kind, name string) {
	t.Helper()
	var args []string
	switch kind {
	case "container":
		args = []string{"rm", "--force", "--time", "0", name}
	case "pod":
		args = []string{"pod", "rm", "--force", "--time", "0", name}
	case "network", "volume":
		args = []string{kind, "rm", "--force", name}
	case "secret":
		args = []string{"secret", "rm", name}
	default:
		t.Fatalf("removeLater: unknown kind %q", kind)
	}
	t.Cleanup(func() {
		if res, err := runPodman(args...); err != nil || res.code != 0 {
			t.Logf("removing %s %s: %v %s", kind, name, err, res.stderr)
		}
	})
}

// logsOnFailure writes the logs of the named containers to the test log
// if the test failed. Register it after removeLater (cleanups run in
// reverse order) so the containers still exist.
func logsOnFailure(t testing.TB, names ...string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range names {
			res, err := runPodman("logs", n)
			t.Logf("--- logs of container %s (%v) ---\n%s%s", n, err, res.stdout, res.stderr)
		}
	})
}

// startContainer runs a detached container named name with args (options,
// image and command, as for `podman run`) and removes it when the test
// ends, printing its logs first if the test failed.
func startContainer(t testing.TB, name string, args ...string) {
	t.Helper()
	removeLater(t, "container", name)
	logsOnFailure(t, name)
	podman(t, append([]string{"run", "--detach", "--name", name}, args...)...)
}

// containerLogs returns what a container wrote to stdout and stderr.
func containerLogs(t testing.TB, name string) string {
	t.Helper()
	res := podmanCode(t, "logs", name)
	return res.stdout + res.stderr
}

// inspect returns a field of a container (podman inspect --format).
func inspect(t testing.TB, name, format string) string {
	t.Helper()
	return strings.TrimSpace(podman(t, "inspect", "--format", format, name))
}

// containerIP returns a container's address on podman's network (on this
// host, reachable from the test process).
func containerIP(t testing.TB, name string) string {
	t.Helper()
	ip := inspect(t, name, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
	if net.ParseIP(ip) == nil {
		t.Fatalf("container %s has no address on podman's network (%q)", name, ip)
	}
	return ip
}

// podIP returns a pod's address: that of its infra container, whose
// network namespace its containers share.
func podIP(t testing.TB, pod string) string {
	t.Helper()
	return containerIP(t, strings.TrimSpace(podman(t, "pod", "inspect", "--format", "{{.InfraContainerID}}", pod)))
}

// netavarkHint names the missing package behind netavark's bare "No such
// file or directory": it runs iptables for every network and port mapping,
// and Debian's netavark package does not depend on iptables.
func netavarkHint(stderr string) string {
	if !strings.Contains(stderr, "netavark: No such file or directory") {
		return ""
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return "(netavark needs iptables, which is not installed: apt-get install iptables, as .ci/run does)"
	}
	return ""
}
