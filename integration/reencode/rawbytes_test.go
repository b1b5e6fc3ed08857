package reencode_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/internal/runtimes"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// The raw-bytes test signs with the older of two configured secrets: the
// re-encoded body must be signed with the secret that verified.
const (
	newSecret = "e2e-reencode-new"
	oldSecret = "e2e-reencode-old"
)

// styleGateway has one route per mode, each in front of the same recording
// upstream: /plain/ without reencode, /js/, /python/ and /php/ with it.
const styleGateway = `{
	admin {{ADMIN_ADDR}}
	persist_config off
	auto_https off
}
http://127.0.0.1:{{HTTP_PORT}} {
	handle /plain/* {
		screenshotcenter_webhook {
			secret {env.NEW_SECRET} {env.OLD_SECRET}
			dedupe {
				namespace plain
			}
		}
		reverse_proxy {env.UPSTREAM}
	}
	handle /js/* {
		screenshotcenter_webhook {
			secret {env.NEW_SECRET} {env.OLD_SECRET}
			reencode js
			dedupe {
				namespace js
			}
		}
		reverse_proxy {env.UPSTREAM}
	}
	handle /python/* {
		screenshotcenter_webhook {
			secret {env.NEW_SECRET} {env.OLD_SECRET}
			reencode python
			dedupe {
				namespace python
			}
		}
		reverse_proxy {env.UPSTREAM}
	}
	handle /php/* {
		screenshotcenter_webhook {
			secret {env.NEW_SECRET} {env.OLD_SECRET}
			reencode php
			dedupe {
				namespace php
			}
		}
		reverse_proxy {env.UPSTREAM}
	}
}`

// TestRawBytesVerifier: without reencode the upstream gets the signed bytes
// and the original signature headers, as before. With reencode a raw-bytes
// verifier keeps working too: it gets the runtime's round trip of the body
// (compared with the real runtime), signed in every signature header the
// request carried with the secret that verified, and X-Scgate-Reencoded.
func TestRawBytesVerifier(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Options{
		Config: styleGateway,
		Env:    []string{"NEW_SECRET=" + newSecret, "OLD_SECRET=" + oldSecret, "UPSTREAM=" + up.Addr},
	})
	roundTrippers := map[string]*runtimes.RoundTripper{
		"js":     runtimes.StartRoundTripper(t, runtimes.Node(t)),
		"python": runtimes.StartRoundTripper(t, runtimes.Python(t)),
		"php":    runtimes.StartRoundTripper(t, runtimes.PHP(t)),
	}

	for _, c := range bodyCases {
		t.Run(c.name, func(t *testing.T) {
			body := c.with(newID(t))
			sig := verifier.Sign([]byte(oldSecret), []byte(body))

			t.Run("plain", func(t *testing.T) {
				got := forwarded(t, up, gw.URL+"/plain/hook", body, sig)
				if !bytes.Equal(got.Body, []byte(body)) {
					t.Errorf("forwarded body %q, want the signed bytes %q", got.Body, body)
				}
				for _, name := range []string{webhook.HeaderSignature, "X-Signature"} {
					if v := got.Header.Values(name); len(v) != 1 || v[0] != sig {
						t.Errorf("%s = %q, want the original %q", name, v, sig)
					}
				}
				if v := got.Header.Get("X-Scgate-Reencoded"); v != "" {
					t.Errorf("X-Scgate-Reencoded = %q without reencode", v)
				}
			})

			for _, style := range []string{"js", "python", "php"} {
				t.Run(style, func(t *testing.T) {
					want := runtimeFixedPoint(t, roundTrippers[style], body)
					if want == nil {
						expectNotForwarded(t, up, gw.URL+"/"+style+"/hook", body, sig, c.refused[style])
						return
					}
					if _, ok := c.refused[style]; ok {
						t.Fatalf("the table says %s refuses this body, but the runtime processes it", style)
					}
					got := forwarded(t, up, gw.URL+"/"+style+"/hook", body, sig)
					if !bytes.Equal(got.Body, want) {
						t.Errorf("forwarded body\n%q\nwant the runtime's\n%q", got.Body, want)
					}
					resigned := verifier.Sign([]byte(oldSecret), got.Body)
					for _, name := range []string{webhook.HeaderSignature, "X-Signature"} {
						if v := got.Header.Values(name); len(v) != 1 || v[0] != resigned {
							t.Errorf("%s = %q, want %q (the forwarded body signed with the secret that verified)", name, v, resigned)
						}
					}
					if v := got.Header.Get("X-Scgate-Reencoded"); v != style {
						t.Errorf("X-Scgate-Reencoded = %q, want %q", v, style)
					}
				})
			}
		})
	}
}

// runtimeFixedPoint is the body a handler of the runtime accepts: its
// round trip of body, or, where that is no fixed point (PHP writes -0.0 as
// -0, which it reads back as 0), the second round trip. nil when the
// runtime cannot process body.
func runtimeFixedPoint(t *testing.T, rt *runtimes.RoundTripper, body string) []byte {
	t.Helper()
	res, err := rt.RoundTripAll([][]byte{[]byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != "" {
		return nil
	}
	again, err := rt.RoundTrip(res[0].Out)
	if err != nil || again.Err != "" {
		t.Fatalf("%s cannot read back its own output %q: %v %s", rt.Runtime, res[0].Out, err, again.Err)
	}
	return again.Out
}

// forwarded delivers body with sig in both default signature headers and
// returns the request the upstream received for it.
func forwarded(t *testing.T, up *gatewaytest.Upstream, url, body, sig string) gatewaytest.Request {
	t.Helper()
	before := up.Count()
	got := deliver(t, url, body, sig, "X-Signature", sig)
	if got.status != http.StatusOK || got.outcome != "" {
		t.Fatalf("delivery to %s: %v, want the upstream's 200", url, got)
	}
	reqs := up.Requests()
	if len(reqs) != before+1 {
		t.Fatalf("the upstream received %d requests for one delivery", len(reqs)-before)
	}
	r := reqs[before]
	if r.ContentLength != int64(len(r.Body)) || r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length %d (header %q) for a body of %d bytes", r.ContentLength, r.Header.Get("Content-Length"), len(r.Body))
	}
	return r
}

// expectNotForwarded checks the 422 of a body the runtime cannot process.
func expectNotForwarded(t *testing.T, up *gatewaytest.Upstream, url, body, sig, reason string) {
	t.Helper()
	if reason == "" {
		t.Fatalf("the runtime refuses this body, but the table names no reason")
	}
	before := up.Count()
	got := deliver(t, url, body, sig, "X-Signature", sig)
	if got.status != http.StatusUnprocessableEntity {
		t.Errorf("a body the runtime cannot process: %v, want 422 (%s)", got, reason)
	}
	if n := up.Count() - before; n != 0 {
		t.Errorf("the upstream received %d requests for it", n)
	}
}
