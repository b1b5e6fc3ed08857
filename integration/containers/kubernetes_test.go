package containers

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// kubeManifest is the example the test plays.
const kubeManifest = "examples/kubernetes/scgate-sidecar.yaml"

// The names podman gives what it plays from the manifest: the pod of a
// Deployment is <name>-pod-0, its containers <pod>-<container>, and the
// ConfigMap becomes a volume of its name.
const (
	kubePod       = "webhooks-pod-0"
	kubeGateway   = kubePod + "-gateway"
	kubeApp       = kubePod + "-app"
	kubeConfigMap = "scgate-caddyfile"
)

// TestKubernetesExample plays examples/kubernetes with `podman kube play`
// and sends events through the pod. What the file holds is played as is,
// but for three differences podman 4.3 (Debian 12) needs:
//   - the images are this test's local images;
//   - the gateway's port gets hostIP 127.0.0.1 and a free hostPort (podman
//     would otherwise publish containerPort on every address of the host);
//   - the Secret document becomes a podman secret in the format podman 4.3
//     reads for secretKeyRef (a JSON object of base64 values), because the
//     Secret podman 4.3 stores from a played document it cannot read back.
//
// podman 4.3 turns probes into shell health checks (`CMD-SHELL ... || exit
// 1`), which cannot run in an image without a shell; a kubelet runs an exec
// probe's command directly and sends an httpGet probe itself, so the test
// does what the kubelet does with the manifest's probes.
//
// The names come from the manifest (pod webhooks-pod-0, volume
// scgate-caddyfile, secret screenshotcenter-webhook), so two test processes
// on one machine must not run this test at the same time.
func TestKubernetesExample(t *testing.T) {
	requireImages(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, kubeManifest))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	var played []string
	var deployment map[string]any
	for _, doc := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%s: %v", kubeManifest, err)
		}
		switch obj["kind"] {
		case "Secret":
			createPodmanSecret(t, obj)
			continue
		case "Deployment":
			deployment = obj
		}
		played = append(played, doc)
	}
	if deployment == nil {
		t.Fatalf("%s has no Deployment", kubeManifest)
	}
	port := gatewaytest.FreePort(t)
	manifest := replaceOnce(t, strings.Join(played, "\n---\n"),
		"image: scgate:local", "image: "+gatewayImage,
		"image: webhook-app:local", "image: "+appImage,
		"containerPort: 8080\n", fmt.Sprintf("containerPort: 8080\n              hostIP: 127.0.0.1\n              hostPort: %d\n", port))
	file := filepath.Join(t.TempDir(), "play.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	removeLater(t, "volume", kubeConfigMap)
	t.Cleanup(func() {
		if res, err := runPodman("kube", "down", file); err != nil || res.code != 0 {
			t.Logf("podman kube down: %v %s", err, res.stderr)
		}
	})
	logsOnFailure(t, kubeGateway, kubeApp)
	podman(t, "kube", "play", "--replace", file)

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitServing(t, base+"/")

	t.Run("events through the pod", func(t *testing.T) {
		// The gateway and the application got the secret from the
		// Secret through their environment: both verify with it.
		checkGuarded(t, base+"/webhooks/screenshot", kubeApp)
	})

	gateway := containerSpec(t, deployment, "gateway")
	t.Run("liveness probe", func(t *testing.T) {
		command := stringList(t, dig(t, gateway, "livenessProbe", "exec", "command"))
		res := podmanCode(t, append([]string{"exec", kubeGateway}, command...)...)
		if res.code != 0 {
			t.Errorf("liveness probe %v: exit %d: %s%s", command, res.code, res.stdout, res.stderr)
		}
	})

	t.Run("readiness probe", func(t *testing.T) {
		path, _ := dig(t, gateway, "readinessProbe", "httpGet", "path").(string)
		probePort := dig(t, gateway, "readinessProbe", "httpGet", "port")
		// The kubelet sends it to the pod's address.
		url := fmt.Sprintf("http://%s:%v%s", podIP(t, kubePod), probePort, path)
		if status, body := httpGet(t, url); status != http.StatusOK {
			t.Errorf("readiness probe GET %s: %d %q, want 200", url, status, body)
		}
	})

	t.Run("read-only root filesystem", func(t *testing.T) {
		if got := inspect(t, kubeGateway, "{{.HostConfig.ReadonlyRootfs}}"); got != "true" {
			t.Errorf("the gateway's root filesystem is not read-only (%s)", got)
		}
	})
}

// createPodmanSecret stores a Secret document's stringData, with this
// test's webhook secret in place of the example's placeholder, as the podman
// secret its secretKeyRef names (a JSON object of base64 values: what podman
// 4.3 reads).
func createPodmanSecret(t *testing.T, secretDoc map[string]any) {
	t.Helper()
	name, _ := dig(t, secretDoc, "metadata", "name").(string)
	data, _ := secretDoc["stringData"].(map[string]any)
	if name == "" || len(data) == 0 {
		t.Fatalf("the Secret in %s has no name or no stringData", kubeManifest)
	}
	values := map[string]string{}
	for k := range data {
		values[k] = base64.StdEncoding.EncodeToString([]byte(secret))
	}
	b, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "secret.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	runPodman("secret", "rm", name) // a leftover of an interrupted run
	removeLater(t, "secret", name)
	podman(t, "secret", "create", name, file)
}

// containerSpec returns the container of a Deployment by name.
func containerSpec(t *testing.T, deployment map[string]any, name string) map[string]any {
	t.Helper()
	list, _ := dig(t, deployment, "spec", "template", "spec", "containers").([]any)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("the Deployment in %s has no container %q", kubeManifest, name)
	return nil
}

// dig returns the value at path in nested YAML maps, failing t if a step
// is missing.
func dig(t testing.TB, v any, path ...string) any {
	t.Helper()
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %s is not a map", kubeManifest, strings.Join(path[:i], "."))
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: no %s", kubeManifest, strings.Join(path[:i+1], "."))
		}
	}
	return v
}

// stringList converts a YAML sequence of strings.
func stringList(t testing.TB, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("%v is not a list of strings", v)
	}
	out := make([]string, len(list))
	for i, s := range list {
		if out[i], ok = s.(string); !ok {
			t.Fatalf("%v is not a list of strings", v)
		}
	}
	return out
}

// replaceOnce replaces each old string (pairs of old, new) in s, failing t
// unless it occurs exactly once, so the test notices when the example
// changes under it.
func replaceOnce(t testing.TB, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the manifest, want once", pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}
