package containers

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// examples/compose/compose.inbox.yaml, the shared inbox example, is valid
// for the Compose v2 loader: two gateways mounting Caddyfile.inbox (which
// integration/inbox runs against a real nats-server) with NATS_URL naming
// the nats service, whose JetStream file store is on a volume, behind the
// load balancer. Its images are not run here: nats cannot be pulled.
func TestComposeSharedInboxExample(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, composeDir)
	if _, err := loadComposeFile(dir, "compose.inbox.yaml", nil); err == nil || !strings.Contains(err.Error(), "SCREENSHOTCENTER_WEBHOOK_SECRET") {
		t.Errorf("without SCREENSHOTCENTER_WEBHOOK_SECRET the compose file loads (err %v); it must refuse", err)
	}
	project, err := loadComposeFile(dir, "compose.inbox.yaml", []string{"SCREENSHOTCENTER_WEBHOOK_SECRET=" + secret})
	if err != nil {
		t.Fatalf("compose.inbox.yaml is not valid for Compose v2: %v", err)
	}
	for _, name := range []string{"gateway-1", "gateway-2"} {
		s, ok := project.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if v := s.Environment["NATS_URL"]; v == nil || *v != "nats://nats:4222" {
			t.Errorf("%s NATS_URL %v, want nats://nats:4222", name, v)
		}
		mounted := false
		for _, v := range s.Volumes {
			mounted = mounted || (v.Source == filepath.Join(dir, "Caddyfile.inbox") && v.Target == "/etc/caddy/Caddyfile")
		}
		if !mounted {
			t.Errorf("%s does not mount Caddyfile.inbox as /etc/caddy/Caddyfile: %+v", name, s.Volumes)
		}
	}
	nats, ok := project.Services["nats"]
	if !ok || !slices.Contains([]string(nats.Command), "-js") {
		t.Fatalf("no nats service with -js: %+v", nats.Command)
	}
	stored := false
	for _, v := range nats.Volumes {
		stored = stored || (v.Type == "volume" && v.Target == "/data")
	}
	if !stored || !slices.Contains([]string(nats.Command), "/data") {
		t.Errorf("the nats service keeps its file store off a volume: %+v %v", nats.Volumes, nats.Command)
	}
	if lb := project.Services["lb"]; len(lb.Ports) != 1 || lb.Ports[0].Target != 8080 {
		t.Errorf("lb publishes %+v, want 8080", lb.Ports)
	}
}
