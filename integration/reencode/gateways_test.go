package reencode_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// hookPath is the path the example handlers serve (the vendor's sample's).
const hookPath = "/webhooks/screenshot"

// exampleGateway runs the gateway with the example's own Caddyfile
// (examples/<dir>/Caddyfile, with `reencode <style>`) in front of upstream.
func exampleGateway(t *testing.T, dir, upstream string) *gatewaytest.Gateway {
	t.Helper()
	port := gatewaytest.FreePort(t)
	return gatewaytest.Start(t, gatewaytest.Options{
		ConfigFile: dir + "/Caddyfile",
		HTTPPort:   port,
		WaitHTTP:   true,
		Env: []string{
			"SCREENSHOTCENTER_WEBHOOK_SECRET=" + secret,
			"LISTEN=http://127.0.0.1:" + strconv.Itoa(port),
			"UPSTREAM=" + upstream,
		},
	})
}

// plainGateway runs the gateway without reencode in front of upstream: it
// forwards the signed bytes and the original signature.
func plainGateway(t *testing.T, upstream string) *gatewaytest.Gateway {
	t.Helper()
	return gatewaytest.Start(t, gatewaytest.Options{
		Config: `{
			admin {{ADMIN_ADDR}}
			persist_config off
			auto_https off
		}
		http://127.0.0.1:{{HTTP_PORT}} {
			screenshotcenter_webhook {
				secret {env.SCGATE_E2E_SECRET}
			}
			reverse_proxy ` + upstream + `
		}`,
		Env: []string{"SCGATE_E2E_SECRET=" + secret},
	})
}

// answer is what the sender saw.
type answer struct {
	status  int
	outcome string // X-Scgate-Outcome: set when the gateway answered itself
	body    string
}

func (a answer) String() string {
	return strconv.Itoa(a.status) + " outcome=" + strconv.Quote(a.outcome) + " body=" + strconv.Quote(a.body)
}

var client = &http.Client{Timeout: 30 * time.Second}

// deliver posts body to url with sig in the vendor's signature header;
// extra headers are name/value pairs.
func deliver(t *testing.T, url, body, sig string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderSignature, sig)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of %s: %v", url, err)
	}
	return answer{resp.StatusCode, resp.Header.Get("X-Scgate-Outcome"), string(b)}
}

// signed is the vendor's signature of body with the handlers' secret, over
// the raw bytes.
func signed(body string) string { return verifier.Sign([]byte(secret), []byte(body)) }

var idCounter atomic.Int64

// newID returns a screenshot id no other delivery of this process used, so
// that no delivery is a duplicate of another by accident.
func newID(t *testing.T) string {
	return "sc_" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "_" + strconv.FormatInt(idCounter.Add(1), 10)
}
