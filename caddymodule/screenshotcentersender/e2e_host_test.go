package screenshotcentersender_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
)

// readmeSidecarExample returns the sidecar example of README.md (the
// ```caddy block of the "Sidecar" section), as a reader copies it.
func readmeSidecarExample(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Sidecar: `screenshotcenter_sender`")
	if !ok {
		t.Fatal("README.md has no sidecar section")
	}
	_, block, ok := strings.Cut(section, "```caddy\n")
	if !ok {
		t.Fatal("the README's sidecar section has no caddy block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok || !strings.Contains(block, "screenshotcenter_sender") || !strings.Contains(block, "8081") {
		t.Fatalf("the README's sidecar example is not what this test expects:\n%s", block)
	}
	return block
}

// listeners returns the local addresses of the TCP sockets listening on
// port (from /proc/net/tcp and tcp6, what `ss -ltn` shows).
func listeners(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Skipf("no %s: cannot see the listening sockets on this system", file)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" { // LISTEN
				continue
			}
			addr, portHex, _ := strings.Cut(f[1], ":")
			if p, _ := strconv.ParseInt(portHex, 16, 32); int(p) != port {
				continue
			}
			raw, _ := hex.DecodeString(addr)
			// The kernel prints each 32-bit word in host (little
			// endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			out = append(out, net.IP(raw).String())
		}
	}
	return out
}

// hostRequest posts a valid event to the sidecar at url with the given Host
// and other headers (name/value pairs) and returns the status and the
// reason code of a refusal's JSON body.
func hostRequest(t *testing.T, url, host string, headers ...string) (int, string) {
	t.Helper()
	body := `{"event":"screenshot.finished","screenshot_id":"sc_host","created_at":"2026-02-22T14:30:00Z"}`
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Reason string `json:"reason"`
	}
	json.Unmarshal(b, &v)
	return resp.StatusCode, v.Reason
}

// The README's sidecar example, loaded as written (only its port and store
// path are replaced, and the global options every test config needs are
// put before it): it listens on loopback only, and it refuses what a
// DNS-rebinding page sends (Host and Origin of the attacker's name,
// Sec-Fetch-Site same-origin) and any Host that is not a loopback name or
// address, with 421 and the reason host_not_allowed, also in the log.
func TestReadmeSidecarExampleIsLoopbackOnly(t *testing.T) {
	port := gatewaytest.FreePort(t)
	example := readmeSidecarExample(t)
	example = strings.ReplaceAll(example, "8081", strconv.Itoa(port))
	example = strings.ReplaceAll(example, "/var/lib/scgate/outbox.db", filepath.Join(t.TempDir(), "outbox.db"))
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config:   "{\n\tadmin {{ADMIN_ADDR}}\n\tpersist_config off\n}\n" + example,
		Env:      []string{"SC_SECRET=" + secret1},
		HTTPPort: port,
		WaitHTTP: true,
	})
	got := listeners(t, port)
	for _, addr := range got {
		if addr != "127.0.0.1" {
			t.Errorf("the example listens on %v, want 127.0.0.1 only", got)
			break
		}
	}
	if len(got) == 0 {
		t.Errorf("nothing listens on port %d", port)
	}
	p := strconv.Itoa(port)
	tests := []struct {
		name    string
		host    string
		headers []string
		want    int
	}{
		{"DNS rebinding", "attacker.example:" + p, []string{"Origin", "http://attacker.example:" + p, "Sec-Fetch-Site", "same-origin"}, http.StatusMisdirectedRequest},
		{"another name", "attacker.example:" + p, nil, http.StatusMisdirectedRequest},
		{"a network address", "192.168.1.20:" + p, nil, http.StatusMisdirectedRequest},
		{"localhost", "localhost:" + p, nil, http.StatusAccepted},
		{"127.0.0.1", "127.0.0.1:" + p, nil, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, reason := hostRequest(t, gw.URL, tt.host, tt.headers...)
			if status != tt.want || (tt.want == http.StatusMisdirectedRequest && reason != "host_not_allowed") {
				t.Fatalf("Host %s: %d (reason %q), want %d", tt.host, status, reason, tt.want)
			}
		})
	}
	if !gw.WaitOutput(`"reason":"host_not_allowed"`, waitTimeout) {
		t.Error("no log line with the reason host_not_allowed")
	}
}

// On a site without a host matcher (every Host reaches the handler) the
// handler itself takes only loopback names and addresses and the names of
// allowed_hosts, whatever the Origin says.
func TestSidecarTakesOnlyItsOwnHost(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	store := filepath.Join(t.TempDir(), "outbox.db")
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://:{{HTTP_PORT}} {
	bind 127.0.0.1
	screenshotcenter_sender {
		endpoint ` + up.URL + `/hook {
			secret {env.SC_SECRET1}
		}
		store ` + store + `
		allow 127.0.0.0/8
		allowed_hosts sidecar.internal 10.0.0.7
	}
}`,
		Env: []string{"SC_SECRET1=" + secret1},
	})
	p := strconv.Itoa(gw.HTTPPort)
	tests := []struct {
		host    string
		headers []string
		want    int
	}{
		{"attacker.example:" + p, []string{"Origin", "http://attacker.example:" + p, "Sec-Fetch-Site", "same-origin"}, http.StatusMisdirectedRequest},
		{"attacker.example", nil, http.StatusMisdirectedRequest},
		{"localhost.attacker.example:" + p, nil, http.StatusMisdirectedRequest},
		{"sidecar.internal.attacker.example:" + p, nil, http.StatusMisdirectedRequest},
		{"127.0.0.1.attacker.example:" + p, nil, http.StatusMisdirectedRequest},
		{"10.0.0.8:" + p, nil, http.StatusMisdirectedRequest},
		{"[fe80::1]:" + p, nil, http.StatusMisdirectedRequest},
		{"localhost:" + p, nil, http.StatusAccepted},
		{"LocalHost.:" + p, nil, http.StatusAccepted},
		{"127.0.0.1:" + p, nil, http.StatusAccepted},
		{"127.0.0.2:" + p, nil, http.StatusAccepted},
		{"[::1]:" + p, nil, http.StatusAccepted},
		{"sidecar.internal:" + p, []string{"Origin", "http://sidecar.internal:" + p}, http.StatusAccepted},
		{"Sidecar.Internal", nil, http.StatusAccepted},
		{"10.0.0.7:" + p, nil, http.StatusAccepted},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			status, reason := hostRequest(t, gw.URL, tt.host, tt.headers...)
			if status != tt.want || (tt.want == http.StatusMisdirectedRequest && reason != "host_not_allowed") {
				t.Fatalf("Host %q: %d (reason %q), want %d", tt.host, status, reason, tt.want)
			}
		})
		if tt.want == http.StatusAccepted {
			accepted++
		}
	}
	// Only the accepted events were signed and delivered.
	waitCount(t, up, accepted)
	if err := gw.Stop(); err != nil {
		t.Fatal(err)
	}
	if up.Count() != accepted {
		t.Fatalf("%d delivered, want %d", up.Count(), accepted)
	}
}

// scgate warns when a sender site listens beyond loopback and names no
// allowed_hosts; a site bound to loopback, or one that names the hosts it
// serves, loads without the warning.
func TestSenderSiteBeyondLoopbackWarns(t *testing.T) {
	const warning = "sender site listens beyond loopback"
	tests := []struct {
		name, site, extra string
		warn              bool
	}{
		{"every interface", "http://:{{PORT}}", "", true},
		{"a site address alone does not bind", "http://127.0.0.1:{{PORT}}", "", true},
		{"bound to loopback", "http://:{{PORT}} {\n\tbind 127.0.0.1 ::1", "", false},
		{"bound to localhost", "http://:{{PORT}} {\n\tbind localhost", "", false},
		{"a unix socket", "http://:{{PORT}} {\n\tbind unix/{{DIR}}/sidecar.sock", "", false},
		{"every interface with allowed_hosts", "http://:{{PORT}}", "allowed_hosts sidecar.internal", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			site := strings.NewReplacer("{{PORT}}", strconv.Itoa(gatewaytest.FreePort(t)), "{{DIR}}", dir).Replace(tt.site)
			if !strings.Contains(site, "{\n") {
				site += " {"
			}
			config := fmt.Sprintf(`{
	admin off
	persist_config off
}
%s
	screenshotcenter_sender {
		endpoint https://hooks.example.com/hook {
			secret {env.SC_SECRET1}
		}
		store %s
		%s
	}
}
`, site, filepath.Join(dir, "outbox.db"), tt.extra)
			path := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := scgate(t, []string{"SC_SECRET1=" + secret1}, "validate", "--config", path)
			if code != 0 {
				t.Fatalf("validate (%d):\n%s", code, out)
			}
			if strings.Contains(out, warning) != tt.warn {
				t.Fatalf("warning %q shown: %v, want %v:\n%s", warning, !tt.warn, tt.warn, out)
			}
		})
	}
}
