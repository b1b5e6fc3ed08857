package containers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

// composeDir holds the compose example.
const composeDir = "examples/compose"

// The compose example's names the test relies on.
const (
	composeImage   = "scgate:local" // the image gateway-1 builds
	metricsPort    = "9180"         // the gateways' metrics site
	adminPort      = "2019"         // their admin API, on their loopback
	prometheusName = "prometheus"   // stood in for by probes (no image here)
)

// loadCompose loads the compose file as Docker Compose v2 does, with
// compose-go (its loader: schema validation, interpolation, merge keys,
// consistency checks), with only env as the environment.
func loadCompose(dir string, env []string) (*types.Project, error) {
	return loadComposeFile(dir, "compose.yaml", env)
}

// loadComposeFile is loadCompose for the compose file named file in dir.
func loadComposeFile(dir, file string, env []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, file)},
		cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithResolvedPaths(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// TestComposeExample checks examples/compose with the Compose v2 loader,
// then runs its services with podman the way Compose would (one network,
// service names as host names, dependency order, health checks awaited)
// and sends events through its load balancer. Prometheus itself cannot be
// pulled here: its scrape targets are fetched from a container on the
// compose network instead.
func TestComposeExample(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, composeDir)
	if _, err := loadCompose(dir, nil); err == nil || !strings.Contains(err.Error(), "SCREENSHOTCENTER_WEBHOOK_SECRET") {
		t.Errorf("without SCREENSHOTCENTER_WEBHOOK_SECRET the compose file loads (err %v); it must refuse", err)
	}
	project, err := loadCompose(dir, []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + secret})
	if err != nil {
		t.Fatalf("compose.yaml is not valid for Compose v2: %v", err)
	}

	gateways := []string{"gateway-1", "gateway-2"}
	t.Run("structure", func(t *testing.T) {
		var builders, users []string
		for name, s := range project.Services {
			if s.Image != composeImage {
				continue
			}
			users = append(users, name)
			if s.Build != nil {
				builders = append(builders, name)
				if s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" {
					t.Errorf("%s builds %s in %s, want the repository's Dockerfile", name, s.Build.Dockerfile, s.Build.Context)
				}
			}
		}
		sort.Strings(users)
		if want := []string{"gateway-1", "gateway-2", "lb"}; !slices.Equal(users, want) {
			t.Errorf("services using %s: %v, want %v", composeImage, users, want)
		}
		if len(builders) != 1 {
			t.Errorf("services building %s: %v, want exactly one", composeImage, builders)
		}
		for _, name := range append(slices.Clone(gateways), "lb", "redis") {
			s := project.Services[name]
			if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
				t.Errorf("%s has no health check", name)
			}
		}
		for _, name := range gateways {
			s := project.Services[name]
			if test := []string(s.HealthCheck.Test); !slices.Equal(test, []string{"CMD", "/usr/bin/scgate", "healthcheck"}) {
				t.Errorf("%s health check %v, want scgate healthcheck without a shell", name, test)
			}
			if len(s.Ports) != 0 {
				t.Errorf("%s publishes %v: the gateways, their metrics and their admin API stay in the compose network", name, s.Ports)
			}
		}
		targets := scrapeTargets(t, project)
		var want []string
		for _, g := range gateways {
			want = append(want, g+":"+metricsPort)
		}
		if !slices.Equal(targets, want) {
			t.Errorf("Prometheus scrapes %v, want %v", targets, want)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	requireRedisImage(t)
	network := prefix + "-compose"
	removeLater(t, "network", network)
	podman(t, "network", "create", network)
	ctr := func(service string) string { return prefix + "-compose-" + service }
	// Service names resolve through /etc/hosts entries as each service
	// starts: the DNS server of podman 4.3's networks (aardvark-dns 1.4)
	// now and then lets a lookup time out, which Compose's DNS does not.
	var hosts []string
	var lbPort int
	for _, name := range startOrder(t, project) {
		if name == prometheusName {
			continue
		}
		s := project.Services[name]
		args := append([]string{"--network", network, "--hostname", name}, hosts...)
		for _, k := range sortedKeys(s.Environment) {
			if v := s.Environment[k]; v != nil {
				args = append(args, "--env", k+"="+*v)
			}
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				args = append(args, "--volume", v.Source+":"+v.Target+readOnly(v.ReadOnly))
			case types.VolumeTypeVolume:
				vol := prefix + "-compose-" + v.Source
				removeLater(t, "volume", vol)
				args = append(args, "--volume", vol+":"+v.Target+readOnly(v.ReadOnly))
			default:
				t.Fatalf("%s: volume type %s is not run by this test", name, v.Type)
			}
		}
		for _, p := range s.Ports {
			// On the host's loopback, on a free port (8080 may be taken).
			if name != "lb" {
				t.Fatalf("%s publishes %v; only lb is expected to", name, p)
			}
			lbPort = gatewaytest.FreePort(t)
			args = append(args, "--publish", fmt.Sprintf("127.0.0.1:%d:%d", lbPort, p.Target))
		}
		image, extra := localImage(t, s)
		args = append(append(args, image), s.Command...)
		startContainer(t, ctr(name), append(args, extra...)...)
		hosts = append(hosts, "--add-host", name+":"+containerIP(t, ctr(name)))
		if s.HealthCheck != nil {
			waitHealthy(t, ctr(name), s.HealthCheck.Test)
		}
	}
	if lbPort == 0 {
		t.Fatal("the lb service publishes no port")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	waitServing(t, base+"/")
	upstream := ctr("upstream")

	t.Run("events through the load balancer", func(t *testing.T) {
		id, body := checkGuarded(t, base+"/webhooks/screenshot", upstream)
		// Round robin sends the two retries to different replicas: both
		// know the event through the shared Redis.
		for i := range 2 {
			a := deliver(t, base+"/webhooks/screenshot", body, true)
			if a.status != http.StatusOK || a.header.Get("X-Scgate-Outcome") != "duplicate" {
				t.Errorf("retry %d: status %d, outcome %q; want 200 duplicate", i+1, a.status, a.header.Get("X-Scgate-Outcome"))
			}
		}
		if n := receivedCount(t, upstream, id); n != 1 {
			t.Errorf("the application received the event %d times, want once", n)
		}
		for _, g := range gateways {
			if n := duplicatesCounted(t, ctr(g)); n < 1 {
				t.Errorf("%s counted %v duplicates, want at least 1 (each replica got a retry)", g, n)
			}
		}
	})

	t.Run("metrics in the network, admin private", func(t *testing.T) {
		// What Prometheus would scrape, asked from a container in the
		// compose network.
		for _, target := range scrapeTargets(t, project) {
			res := podmanCode(t, append(append([]string{"run", "--rm", "--network", network}, hosts...), gatewayImage,
				"healthcheck", "--url", "http://"+target+"/metrics")...)
			if res.code != 0 {
				t.Errorf("metrics of %s not reachable in the compose network: %s", target, res.stderr)
			}
		}
		for _, g := range gateways {
			res := podmanCode(t, append(append([]string{"run", "--rm", "--network", network}, hosts...), gatewayImage,
				"healthcheck", "--address", g+":"+adminPort, "--timeout", "3s")...)
			if res.code == 0 || !strings.Contains(res.stderr, "connection refused") {
				t.Errorf("the admin API of %s is reachable from the compose network, or the probe failed otherwise: exit %d: %s", g, res.code, res.stderr)
			}
		}
	})
}

// scrapeTargets returns the targets of prometheus.yml as the prometheus
// service mounts it.
func scrapeTargets(t testing.TB, project *types.Project) []string {
	t.Helper()
	var file string
	for _, v := range project.Services[prometheusName].Volumes {
		if v.Target == "/etc/prometheus/prometheus.yml" {
			file = v.Source
		}
	}
	if file == "" {
		t.Fatalf("the %s service mounts no /etc/prometheus/prometheus.yml", prometheusName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var targets []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	return targets
}

// startOrder returns the services so that each comes after those it
// depends on.
func startOrder(t testing.TB, project *types.Project) []string {
	t.Helper()
	var order []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(string)
	visit = func(name string) {
		switch state[name] {
		case 1:
			t.Fatalf("dependency cycle through %s", name)
		case 2:
			return
		}
		state[name] = 1
		for _, dep := range sortedKeys(project.Services[name].DependsOn) {
			visit(dep)
		}
		state[name] = 2
		order = append(order, name)
	}
	for _, name := range sortedKeys(project.Services) {
		visit(name)
	}
	return order
}

// localImage is the image this test built for a service: the compose
// file's own build of scgate, its build of the example application, or the
// host's Redis for redis:7, with arguments to append to the service's
// command.
func localImage(t testing.TB, s types.ServiceConfig) (image string, extraArgs []string) {
	t.Helper()
	switch {
	case s.Image == composeImage:
		return gatewayImage, nil
	case s.Build != nil && filepath.Base(s.Build.Dockerfile) == "upstream.Dockerfile":
		return appImage, nil
	case strings.HasPrefix(s.Image, "redis:"):
		// The official image's entrypoint adds this when redis-server
		// runs without a config file; the host's binary needs it said,
		// or it refuses clients from other containers.
		return redisImage, []string{"--protected-mode", "no"}
	}
	t.Fatalf("no local image for service %s (image %q)", s.Name, s.Image)
	return "", nil
}

// waitHealthy runs a compose health check (the CMD form, as the engine
// would) in the container until it passes.
func waitHealthy(t testing.TB, name string, test types.HealthCheckTest) {
	t.Helper()
	if len(test) < 2 || test[0] != "CMD" {
		t.Fatalf("%s: health check %v is not of the CMD form (the images have no shell)", name, test)
	}
	eventually.Succeeds(t, startTimeout, func() error {
		res, err := runPodman(append([]string{"exec", name}, test[1:]...)...)
		if err != nil {
			return eventually.Stop(err)
		}
		if res.code != 0 {
			return fmt.Errorf("health check of %s: exit %d: %s%s", name, res.code, res.stdout, res.stderr)
		}
		return nil
	})
}

// duplicatesCounted reads scgate_webhook_requests_total{outcome="duplicate"}
// from a gateway's metrics site, at its address on podman's network.
func duplicatesCounted(t testing.TB, name string) float64 {
	t.Helper()
	ip := containerIP(t, name)
	var total float64
	eventually.Succeeds(t, 10*time.Second, func() error {
		status, body := httpGet(t, "http://"+ip+":"+metricsPort+"/metrics")
		if status != http.StatusOK {
			return fmt.Errorf("metrics of %s: status %d", name, status)
		}
		total = 0
		re := regexp.MustCompile(`(?m)^scgate_webhook_requests_total\{[^}]*outcome="duplicate"[^}]*\} (\S+)$`)
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			total += v
		}
		return nil
	})
	return total
}

func readOnly(ro bool) string {
	if ro {
		return ":ro"
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
