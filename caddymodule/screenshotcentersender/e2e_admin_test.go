package screenshotcentersender_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
)

func adminDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The deliveries admin API and the CLI through it, on a running gateway
// with two stores: list, show and retry while it holds the stores' locks.
func TestDeliveriesWhileRunning(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.Respond(func(int, gatewaytest.Request) int { return http.StatusInternalServerError })
	dir := t.TempDir()
	store, other := filepath.Join(dir, "outbox.db"), filepath.Join(dir, "other.db")
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
	admin {{ADMIN_ADDR}}
	persist_config off
}
http://127.0.0.1:{{HTTP_PORT}} {
	handle /other {
		screenshotcenter_sender {
			endpoint ` + up.URL + `/other {
				secret {env.SC_SECRET2}
			}
			store ` + other + `
			allow 127.0.0.0/8
			attempts 1
		}
	}
	handle {
		screenshotcenter_sender {
			endpoint ` + up.URL + `/hook {
				secret {env.SC_SECRET1}
			}
			store ` + store + `
			allow 127.0.0.0/8
			backoff 20ms
			attempts 2
		}
	}
}`,
		Env: []string{"SC_SECRET1=" + secret1, "SC_SECRET2=" + secret2},
	})
	addr := strings.TrimPrefix(gw.AdminURL, "http://")
	const marker = "sc_admin_body_marker"
	body := `{"event":"screenshot.failed","screenshot_id":"` + marker + `","error":"x"}`
	code, resp := post(t, gw.URL+"/", "application/json", body)
	if code != http.StatusAccepted {
		t.Fatalf("POST = %d %s", code, resp)
	}
	var acc struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(resp), &acc); err != nil || len(acc.Deliveries) != 1 {
		t.Fatalf("202 body %s", resp)
	}
	id := acc.Deliveries[0].ID
	deliveries := func(args ...string) (string, int) {
		return scgate(t, []string{"XDG_DATA_HOME=" + t.TempDir()}, append(append([]string{"deliveries"}, args...), "--address", addr)...)
	}
	// Wait until both attempts are recorded: failed.
	eventually.Succeeds(t, waitTimeout, func() error {
		out, code := deliveries("list", "--state", "failed", "--store", store)
		if code != 0 || !strings.Contains(out, id) {
			return fmt.Errorf("list of failed deliveries through the admin API (%d):\n%s", code, out)
		}
		return nil
	})

	// Through the CLI: the store is locked, so it uses the admin API.
	out, code := deliveries("show", id, "--json", "--store", store)
	if code != 0 || !strings.Contains(out, `"state": "failed"`) || strings.Count(out, `"outcome"`) != 2 ||
		!strings.Contains(out, `"body_bytes": `) {
		t.Fatalf("show through the admin API (%d):\n%s", code, out)
	}
	if out, code := deliveries("list"); code != 0 || !strings.Contains(out, "# store "+store) ||
		!strings.Contains(out, "# store "+other) || !strings.Contains(out, id) {
		t.Fatalf("list of every store, no local default store (%d):\n%s", code, out)
	}
	// One sentence on stderr, the gateway's reason without its JSON.
	if out, code := deliveries("retry", id, "--store", other); code == 0 || !strings.Contains(out, "delivery "+id+" not found") ||
		strings.Count(out, "\n") != 1 || strings.Contains(out, "{") || !strings.HasPrefix(out, "scgate deliveries retry: ") {
		t.Fatalf("retry in the wrong store (%d):\n%s", code, out)
	}
	up.Respond(nil)
	if out, code := deliveries("retry", id, "--store", store); code != 0 || !strings.Contains(out, "re-queued") {
		t.Fatalf("retry through the admin API (%d):\n%s", code, out)
	}
	waitCount(t, up, 3)
	if a := up.Requests()[2].Header.Get("X-ScreenshotCenter-Delivery-Attempt"); a != "1" {
		t.Errorf("attempt after the retry = %s, want 1", a)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		out, code := deliveries("list", "--state", "delivered", "--store", store)
		if code != 0 || !strings.Contains(out, id) {
			return fmt.Errorf("retried delivery not listed as delivered (%d):\n%s", code, out)
		}
		return nil
	})

	// Bulk retry through the admin API: an event of the other store fails
	// (one attempt), and is re-queued with every failed one of that store.
	up.Respond(func(_ int, r gatewaytest.Request) int {
		if r.RequestURI == "/other" && strings.Contains(string(r.Body), marker+"_other") {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	otherBody := strings.Replace(body, marker, marker+"_other", 1)
	if code, resp := post(t, gw.URL+"/other", "application/json", otherBody); code != http.StatusAccepted {
		t.Fatalf("POST /other = %d %s", code, resp)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		out, code := deliveries("list", "--state", "failed", "--store", other)
		if code != 0 || strings.Count(out, " failed ") != 1 {
			return fmt.Errorf("the other store's delivery did not fail (%d):\n%s", code, out)
		}
		return nil
	})
	if out, code := deliveries("retry", "--state", "failed", "--since", "1ns", "--store", other); code != 0 || !strings.Contains(out, "0 failed deliveries") {
		t.Fatalf("bulk retry of nothing that recent (%d):\n%s", code, out)
	}
	up.Respond(nil)
	if out, code := deliveries("retry", "--state", "failed", "--store", other); code != 0 || !strings.Contains(out, "1 failed deliveries re-queued") {
		t.Fatalf("bulk retry through the admin API (%d):\n%s", code, out)
	}
	eventually.Succeeds(t, waitTimeout, func() error {
		out, code := deliveries("list", "--state", "delivered", "--store", other)
		if code != 0 || strings.Count(out, " delivered ") != 1 {
			return fmt.Errorf("the other store's delivery was not delivered after the bulk retry (%d):\n%s", code, out)
		}
		return nil
	})

	// The admin API itself: answers, refusals, never a secret or a body.
	base := gw.AdminURL + "/scgate/deliveries"
	tests := []struct {
		name, method, path string
		want               int
		contains           string
	}{
		{"list all", http.MethodGet, "", 200, `"open": true`},
		{"list one store", http.MethodGet, "?store=" + store + "&state=delivered&limit=1", 200, id},
		{"show", http.MethodGet, "/" + id, 200, `"attempts_log"`},
		{"show in its store", http.MethodGet, "/" + id + "?store=" + store, 200, id},
		{"show in another store", http.MethodGet, "/" + id + "?store=" + other, 404, "not found"},
		{"unknown id", http.MethodGet, "/nope", 404, "not found"},
		{"retry delivered", http.MethodPost, "/" + id + "/retry", 409, "only failed or gone"},
		{"retry unknown", http.MethodPost, "/nope/retry", 404, "not found"},
		{"bad state", http.MethodGet, "?state=lost", 400, "unknown state"},
		{"bad limit", http.MethodGet, "?limit=-1", 400, "limit"},
		{"relative store", http.MethodGet, "?store=outbox.db", 400, "absolute"},
		{"unknown store", http.MethodGet, "?store=/nope/outbox.db", 404, "no screenshotcenter_sender"},
		{"post list", http.MethodPost, "", 405, "use GET"},
		{"get retry", http.MethodGet, "/" + id + "/retry", 405, "use POST"},
		{"delete", http.MethodDelete, "/" + id, 405, "use GET"},
		{"too deep", http.MethodGet, "/" + id + "/retry/x", 404, "no such resource"},
		{"bulk retry", http.MethodPost, "/retry?state=failed&since=1h", 200, `"retried": []`},
		{"bulk retry of one store", http.MethodPost, "/retry?state=gone&store=" + store, 200, `"store": "` + store},
		{"bulk retry of pending", http.MethodPost, "/retry?state=pending", 400, "only failed or gone"},
		{"bulk retry, bad since", http.MethodPost, "/retry?state=failed&since=-1h", 400, "positive duration"},
	}
	for _, tt := range tests {
		code, b := adminDo(t, tt.method, base+tt.path)
		if code != tt.want || !strings.Contains(b, tt.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, code, b, tt.want, tt.contains)
		}
		for _, leak := range []string{secret1, secret2, marker} {
			if strings.Contains(b, leak) {
				t.Errorf("%s: the answer holds a secret or the body: %s", tt.name, b)
			}
		}
	}
	if strings.Contains(gw.Output(), secret1) || strings.Contains(gw.Output(), marker) {
		t.Error("the gateway logged a secret or a body")
	}
}
