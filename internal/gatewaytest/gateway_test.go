package gatewaytest_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

const respondConfig = `{
	admin {{ADMIN_ADDR}}
	persist_config off
	http_port {{HTTP_PORT}}
	https_port {{HTTPS_PORT}}
}
http://127.0.0.1:{{HTTP_PORT}} {
	respond "%s"
}
`

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestStartReloadStop exercises the helper itself: a process starts, serves,
// takes a new config through /load and stops on SIGTERM.
func TestStartReloadStop(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: strings.Replace(respondConfig, "%s", "one", 1)})
	if got := get(t, gw.URL); got != "one" {
		t.Fatalf("body = %q, want one", got)
	}
	if err := gw.Reload(strings.Replace(respondConfig, "%s", "two", 1)); err != nil {
		t.Fatal(err)
	}
	if got := get(t, gw.URL); got != "two" {
		t.Fatalf("body after reload = %q, want two", got)
	}
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if gw.Running() {
		t.Fatal("still running after Stop")
	}
	if !strings.Contains(gw.Output(), "serving initial configuration") {
		t.Errorf("output does not show the start:\n%s", gw.Output())
	}
}

// TestLaunchReportsABadConfig checks that a config that cannot load is an
// error with the process output, not a hang.
func TestLaunchReportsABadConfig(t *testing.T) {
	gw, err := gatewaytest.Launch(t, gatewaytest.Options{Config: "http://127.0.0.1:{{HTTP_PORT}} {\n\tno_such_directive\n}\n"})
	if err == nil {
		t.Fatal("Launch succeeded with an invalid config")
	}
	if !strings.Contains(err.Error(), "no_such_directive") || gw.Running() {
		t.Fatalf("err = %v, running = %v", err, gw.Running())
	}
}

func TestUpstreamRecordsAndScripts(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.FailFirst(1, http.StatusServiceUnavailable)
	for i, want := range []int{503, 200} {
		resp, err := http.Post(up.URL+"/x", "text/plain", strings.NewReader(" body "))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	reqs := up.Requests()
	if len(reqs) != 2 || string(reqs[1].Body) != " body " || reqs[1].RequestURI != "/x" {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	gatewaytest.Cleanup()
	os.Exit(code)
}
