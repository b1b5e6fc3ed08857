package main

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

func TestHealthcheck(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{Config: `{
		admin {{ADMIN_ADDR}}
		persist_config off
		auto_https off
	}
	http://127.0.0.1:{{HTTP_PORT}} {
		respond /healthz "ok" 200
		respond /unavailable "down" 503
		redir /moved /healthz 302
		respond "not found" 404
	}`})
	// A port nothing listens on, and a listener that accepts connections
	// but never answers.
	closed := gatewaytest.FreePort(t)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	adminAddr := "127.0.0.1:" + strconv.Itoa(gw.AdminPort)
	closedAddr := "127.0.0.1:" + strconv.Itoa(closed)

	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		// want is in stdout on success, in stderr on failure.
		want string
	}{
		{"admin by --address over CADDY_ADMIN", nil, []string{"--address", adminAddr}, 0,
			"the admin endpoint " + adminAddr + " answered 200 OK."},
		{"admin by CADDY_ADMIN", []string{"CADDY_ADMIN=" + adminAddr}, nil, 0,
			"the admin endpoint " + adminAddr + " answered 200 OK."},
		{"admin down", nil, []string{"--address", closedAddr}, 1,
			"the admin endpoint " + closedAddr + " did not answer 2xx: performing request:"},
		{"admin silent", nil, []string{"--address", silent.Addr().String(), "--timeout", "300ms"}, 1,
			"the admin endpoint " + silent.Addr().String() + " did not answer within 300ms."},
		{"url 200", nil, []string{"--url", gw.URL + "/healthz"}, 0,
			gw.URL + "/healthz answered 200 OK."},
		{"url 503", nil, []string{"--url", gw.URL + "/unavailable"}, 1,
			gw.URL + "/unavailable answered 503 Service Unavailable, not 2xx."},
		{"url redirect", nil, []string{"--url", gw.URL + "/moved"}, 1,
			gw.URL + `/moved answered 302 Found, a redirect to "/healthz", which is not followed.`},
		{"url refused", nil, []string{"--url", "http://" + closedAddr + "/"}, 1,
			"http://" + closedAddr + "/ could not be reached: dial tcp " + closedAddr},
		{"url silent", nil, []string{"--url", "http://" + silent.Addr().String() + "/", "--timeout", "300ms"}, 1,
			"http://" + silent.Addr().String() + "/ did not answer within 300ms."},
		{"url not http", nil, []string{"--url", "ftp://" + closedAddr + "/"}, 1,
			`--url "ftp://` + closedAddr + `/" is not an http:// or https:// URL.`},
		{"stray argument", nil, []string{"extra"}, 1, `unknown command "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Never the default localhost:2019, which may be anyone's.
			env := append([]string{"CADDY_ADMIN=" + closedAddr}, tc.env...)
			stdout, stderr, code := gatewaytest.Run(t, env, append([]string{"healthcheck"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			got, other := stdout, stderr
			if tc.wantCode != 0 {
				got, other = stderr, stdout
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("output %q does not contain %q", got, tc.want)
			}
			if other != "" {
				t.Errorf("unexpected output on the other stream: %q", other)
			}
			if tc.name != "stray argument" && strings.Count(strings.TrimSpace(got), "\n") != 0 {
				t.Errorf("more than one line: %q", got)
			}
		})
	}
}
