package integration

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/verifier"
)

// 1. Only POST.
func TestMethodOtherThanPostIs405WithAllow(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			body := event(t, "screenshot.finished")
			req := request(t, body)
			req.Method = method
			got := do(t, req)
			if got.Status != http.StatusMethodNotAllowed || got.Header.Get("Allow") != "POST" {
				t.Fatalf("got %d with Allow %q, want 405 with Allow POST", got.Status, got.Header.Get("Allow"))
			}
			if method != http.MethodHead && got.Reason() != "method_not_allowed" {
				t.Fatalf("reason %q (body %q), want method_not_allowed", got.Reason(), got.Body)
			}
		})
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d requests", n)
	}
}

// paddedEvent returns a signed-able event body of exactly size bytes.
func paddedEvent(t *testing.T, size int) string {
	head := `{"event":"screenshot.finished","screenshot_id":"` + uid(t) + `","pad":"`
	tail := `"}`
	n := size - len(head) - len(tail)
	if n < 0 {
		t.Fatalf("size %d too small", size)
	}
	return head + strings.Repeat("x", n) + tail
}

// 2. max_body, by Content-Length and while reading a chunked body.
func TestBodyOverMaxBodyIs413(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_body 1KiB")
	tests := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"content-length one byte over", 1025, false, http.StatusRequestEntityTooLarge},
		{"content-length far over", 64 << 10, false, http.StatusRequestEntityTooLarge},
		{"chunked one byte over", 1025, true, http.StatusRequestEntityTooLarge},
		{"chunked far over", 64 << 10, true, http.StatusRequestEntityTooLarge},
		{"content-length at the limit", 1024, false, http.StatusOK},
		{"chunked at the limit", 1024, true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count()
			body := paddedEvent(t, tt.size)
			req := request(t, body)
			if tt.chunked {
				req = chunked(req, body)
			}
			got := do(t, req)
			if got.Status != tt.want {
				t.Fatalf("got %d, want %d", got.Status, tt.want)
			}
			if tt.want == http.StatusRequestEntityTooLarge && got.Reason() != "body_too_large" {
				t.Fatalf("reason %q, want body_too_large", got.Reason())
			}
			wantForwarded := 0
			if tt.want == http.StatusOK {
				wantForwarded = 1
			}
			if n := up.Count() - before; n != wantForwarded {
				t.Fatalf("upstream received %d requests, want %d", n, wantForwarded)
			}
		})
	}
}

// 3. Signatures.
func TestSignatures(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "secret "+otherSecret)
	badHex := "sha256=" + strings.Repeat("0", 64)
	tests := []struct {
		name   string
		header func(body string) []string
		want   int
		reason string
	}{
		{"no signature header", func(string) []string { return []string{sigHeader, ""} }, 401, "signature_missing"},
		{"not sha256=", func(b string) []string { return []string{sigHeader, "md5=" + sign(secret, b)[7:]} }, 401, "signature_malformed"},
		{"not hex", func(string) []string { return []string{sigHeader, "sha256=" + strings.Repeat("z", 64)} }, 401, "signature_malformed"},
		{"too short", func(b string) []string { return []string{sigHeader, sign(secret, b)[:40]} }, 401, "signature_malformed"},
		{"bare hex without the prefix", func(b string) []string { return []string{sigHeader, sign(secret, b)[7:]} }, 401, "signature_malformed"},
		{"unknown secret", func(b string) []string { return []string{sigHeader, sign("someone-else", b)} }, 401, "signature_mismatch"},
		{"signature of another body", func(b string) []string { return []string{sigHeader, sign(secret, b+" ")} }, 401, "signature_mismatch"},
		{"wrong signature in X-Signature", func(b string) []string {
			return []string{sigHeader, "", "X-Signature", sign("someone-else", b)}
		}, 401, "signature_mismatch"},
		{"first secret", func(b string) []string { return []string{sigHeader, sign(secret, b)} }, 200, ""},
		{"second secret (rotation)", func(b string) []string { return []string{sigHeader, sign(otherSecret, b)} }, 200, ""},
		{"X-Signature instead", func(b string) []string { return []string{sigHeader, "", "X-Signature", sign(secret, b)} }, 200, ""},
		{"a bad and a good value in one line", func(b string) []string { return []string{sigHeader, badHex + "," + sign(secret, b)} }, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count()
			body := event(t, "screenshot.finished")
			got := post(t, body, tt.header(body)...)
			if got.Status != tt.want || got.Reason() != tt.reason {
				t.Fatalf("got %d (%q), want %d with reason %q", got.Status, got.Body, tt.want, tt.reason)
			}
			forwarded := up.Count() - before
			if (tt.want == 200) != (forwarded == 1) {
				t.Fatalf("upstream received %d requests for a %d", forwarded, got.Status)
			}
		})
	}
}

// 3. Verification comes before the dedupe lookup: unsigned copies of an
// event neither claim it nor see its state.
func TestUnsignedTrafficNeverTouchesTheDedupeStore(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := event(t, "screenshot.finished")
	unsigned := []string{sigHeader, ""}
	forged := []string{sigHeader, sign("forger", body)}

	expect(t, "unsigned, before delivery", post(t, body, unsigned...), 401, "")
	expect(t, "forged, before delivery", post(t, body, forged...), 401, "")

	// While the real delivery is in flight, an unsigned copy is 401, not 409.
	release := make(chan struct{})
	arrived := up.Notify(1)
	up.Respond(func(n int, _ gatewaytest.Request) int { <-release; return 200 })
	first := make(chan result, 1)
	go func() { first <- post(t, body) }()
	waitFor(t, arrived)
	expect(t, "unsigned, while in flight", post(t, body, unsigned...), 401, "")
	close(release)
	expect(t, "signed delivery", <-first, 200, "")

	expect(t, "unsigned, after delivery", post(t, body, unsigned...), 401, "")
	expect(t, "forged, after delivery", post(t, body, forged...), 401, "")
	expect(t, "signed retry", post(t, body), 200, "duplicate")
	if n := up.Count(); n != 1 {
		t.Fatalf("upstream received %d requests, want 1", n)
	}
}

// 4. Bodies the gateway refuses to interpret.
func TestMalformedBodiesAre400(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	tests := []struct {
		name    string
		body    string
		headers []string
		reason  string
	}{
		{"empty", "", nil, "body_invalid_json"},
		{"not JSON", "event=screenshot.finished", nil, "body_invalid_json"},
		{"array", `[{"event":"screenshot.finished"}]`, nil, "body_not_object"},
		{"string", `"screenshot.finished"`, nil, "body_not_object"},
		{"number", `42`, nil, "body_not_object"},
		{"truncated object", `{"event":"screenshot.finished"`, nil, "body_invalid_json"},
		{"two objects", `{"event":"a"}{"event":"b"}`, nil, "body_invalid_json"},
		{"no event", `{"screenshot_id":"1"}`, nil, "event_missing"},
		{"event is a number", `{"event":1}`, nil, "event_not_string"},
		{"event is null", `{"event":null}`, nil, "event_not_string"},
		{"event is an object", `{"event":{"name":"screenshot.finished"}}`, nil, "event_not_string"},
		{"event repeated", `{"event":"screenshot.finished","event":"batch.finished"}`, nil, "duplicate_key"},
		{"event repeated with the same value", `{"event":"screenshot.finished","event":"screenshot.finished"}`, nil, "duplicate_key"},
		{"event repeated in another case", `{"event":"screenshot.finished","Event":"batch.finished"}`, nil, "ambiguous_key"},
		{"event repeated through an escape", `{"event":"screenshot.finished","\u0065vent":"batch.finished"}`, nil, "duplicate_key"},
		{"screenshot_id repeated", `{"event":"screenshot.finished","screenshot_id":1,"screenshot_id":2}`, nil, "duplicate_key"},
		{"batch_id repeated", `{"event":"batch.finished","batch_id":"a","batch_id":"b"}`, nil, "duplicate_key"},
		{"created_at repeated", `{"event":"screenshot.finished","created_at":"2026-01-01T00:00:00Z","created_at":"2027-01-01T00:00:00Z"}`, nil, "duplicate_key"},
		{"another key repeated", `{"event":"screenshot.finished","url":"a","url":"b"}`, nil, "duplicate_key"},
		{"a nested key repeated", `{"event":"x.y","data":{"event":1,"event":2}}`, nil, "duplicate_key"},
		{"invalid UTF-8", "{\"event\":\"x.y\",\"note\":\"\xc3\x28\"}", nil, "body_invalid_utf8"},
		{"event header differs", `{"event":"screenshot.finished","screenshot_id":"h1"}`, []string{"X-ScreenshotCenter-Event", "batch.finished"}, "event_header_mismatch"},
		{"second event header differs", `{"event":"screenshot.finished","screenshot_id":"h2"}`, []string{"X-ScreenshotCenter-Event", "screenshot.finished", "X-ScreenshotCenter-Event", "batch.finished"}, "event_header_mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := post(t, tt.body, tt.headers...)
			if got.Status != http.StatusBadRequest || got.Reason() != tt.reason {
				t.Fatalf("got %d (%q), want 400 with reason %q", got.Status, got.Body, tt.reason)
			}
		})
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d requests", n)
	}
	// Control: the same shapes done right pass.
	body := event(t, "screenshot.finished")
	expect(t, "matching event header", post(t, body, "X-ScreenshotCenter-Event", "screenshot.finished"), 200, "")
	expect(t, "watched names in nested objects",
		post(t, `{"event":"x.y","screenshot_id":"`+uid(t)+`","data":{"event":1,"screenshot_id":2}}`), 200, "")
}

// 5. The replay window.
func TestMaxAge(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "max_age 1h")
	now := time.Now().UTC()
	withCreatedAt := func(t *testing.T, v string) string {
		return `{"event":"screenshot.finished","screenshot_id":"` + uid(t) + `","created_at":` + v + `}`
	}
	tests := []struct {
		name      string
		createdAt string // JSON value, "" for absent
		want      int
	}{
		{"missing", "", 401},
		{"null", "null", 401},
		{"not a time", `"yesterday"`, 401},
		{"unix seconds", strconv.FormatInt(now.Unix(), 10), 400},
		{"date only", `"` + now.Format("2006-01-02") + `"`, 401},
		{"older than max_age", `"` + now.Add(-2*time.Hour).Format(time.RFC3339) + `"`, 401},
		{"more than 5 minutes in the future", `"` + now.Add(10*time.Minute).Format(time.RFC3339) + `"`, 401},
		{"now", `"` + now.Format(time.RFC3339Nano) + `"`, 200},
		{"within max_age", `"` + now.Add(-50*time.Minute).Format(time.RFC3339) + `"`, 200},
		{"slightly in the future", `"` + now.Add(2*time.Minute).Format(time.RFC3339) + `"`, 200},
		{"other time zone", `"` + now.In(time.FixedZone("X", 5*3600)).Format(time.RFC3339) + `"`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"event":"screenshot.finished","screenshot_id":"` + uid(t) + `"}`
			if tt.createdAt != "" {
				body = withCreatedAt(t, tt.createdAt)
			}
			got := post(t, body)
			if got.Status != tt.want {
				t.Fatalf("got %d (%q), want %d", got.Status, got.Body, tt.want)
			}
		})
	}
	if n := up.Count(); n != 4 {
		t.Fatalf("upstream received %d requests, want the 4 valid ones", n)
	}
}

// 6. The events allowlist.
func TestEventsOutsideTheAllowlistAreAcknowledgedNotForwarded(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "events screenshot.finished app.upload.finished")
	tests := []struct {
		event   string
		outcome string
	}{
		{"screenshot.finished", ""},
		{"app.upload.finished", ""},
		{"batch.finished", "ignored"},
		{"screenshot.failed", "ignored"},
		{"Screenshot.Finished", "ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			before := up.Count()
			expect(t, tt.event, post(t, event(t, tt.event)), 200, tt.outcome)
			if forwarded := up.Count() - before; (tt.outcome == "") != (forwarded == 1) {
				t.Fatalf("upstream received %d requests", forwarded)
			}
		})
	}
}

// 7. Dedupe keys: each event is forwarded once, with its key, and its retry
// is a duplicate.
func TestDedupeKeysAndDuplicates(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	shared := uid(t)
	num := strconv.FormatInt(1_000_000+idCounter.Add(1), 10)
	batch := uid(t)
	ping := `{"event":"custom.ping","nonce":"` + uid(t) + `"}`
	pingSum := sha256.Sum256([]byte(ping))
	tests := []struct {
		name string
		body string
		key  string
	}{
		{"screenshot id", `{"event":"screenshot.finished","screenshot_id":"` + shared + `"}`, `"screenshot.finished" screenshot_id "` + shared + `"`},
		{"other event, same screenshot", `{"event":"app.upload.finished","screenshot_id":"` + shared + `"}`, `"app.upload.finished" screenshot_id "` + shared + `"`},
		{"numeric screenshot id", `{"event":"screenshot.finished","screenshot_id":` + num + `}`, `"screenshot.finished" screenshot_id ` + num},
		{"batch id", `{"event":"batch.finished","batch_id":"` + batch + `"}`, `"batch.finished" batch_id "` + batch + `"`},
		{"no id: body hash", ping, `"custom.ping" sha256 ` + hex.EncodeToString(pingSum[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := forwardedOnce(t, up, request(t, tt.body)).Header.Get("X-Scgate-Dedupe-Key"); got != tt.key {
				t.Fatalf("dedupe key %q, want %q", got, tt.key)
			}
			before := up.Count()
			got := post(t, tt.body)
			expect(t, "retry", got, 200, "duplicate")
			if up.Count() != before {
				t.Fatal("the duplicate reached the upstream")
			}
		})
	}
	// The same event re-signed with different whitespace is still the same
	// screenshot: a duplicate.
	expect(t, "re-serialized retry", post(t, `{ "screenshot_id" : "`+shared+`", "event" : "screenshot.finished" }`), 200, "duplicate")
}

// 7. A copy arriving while the first is at the upstream gets 409.
func TestCopyInFlightIs409WithRetryAfter(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "dedupe memory {\n\t\t\tinflight_timeout 30s\n\t\t}")
	body := event(t, "screenshot.finished")
	release := make(chan struct{})
	arrived := up.Notify(1)
	up.Respond(func(n int, _ gatewaytest.Request) int {
		if n == 0 {
			<-release
		}
		return 200
	})
	first := make(chan result, 1)
	go func() { first <- post(t, body) }()
	waitFor(t, arrived)

	got := post(t, body)
	if got.Status != http.StatusConflict || got.Header.Get("Retry-After") != "30" {
		t.Fatalf("copy in flight: %d with Retry-After %q, want 409 with Retry-After 30", got.Status, got.Header.Get("Retry-After"))
	}
	// Another event is not blocked by it.
	expect(t, "other event meanwhile", post(t, event(t, "screenshot.finished")), 200, "")
	close(release)
	expect(t, "first copy", <-first, 200, "")
	expect(t, "retry after the first copy was delivered", post(t, body), 200, "duplicate")
	if n := up.Count(); n != 2 {
		t.Fatalf("upstream received %d requests, want 2", n)
	}
}

// 7. Concurrent copies: exactly one reaches the upstream.
func TestFiftyConcurrentCopiesReachTheUpstreamOnce(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	body := event(t, "screenshot.finished")
	const copies = 50
	start := make(chan struct{})
	results := make([]result, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for i := range copies {
		req := request(t, body)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			results[i] = result{Status: resp.StatusCode, Header: resp.Header}
		}()
	}
	close(start)
	wg.Wait()
	counts := map[string]int{}
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("copy %d: %v", i, errs[i])
		}
		switch {
		case r.Status == 200 && r.Outcome() == "":
			counts["forwarded"]++
		case r.Status == 200 && r.Outcome() == "duplicate":
			counts["duplicate"]++
		case r.Status == http.StatusConflict:
			counts["in flight"]++
		default:
			t.Fatalf("copy %d: unexpected answer %d %q", i, r.Status, r.Outcome())
		}
	}
	if counts["forwarded"] != 1 || up.Count() != 1 {
		t.Fatalf("answers %v, upstream received %d; want exactly one forwarded", counts, up.Count())
	}
	t.Logf("answers: %v", counts)
}

// 8. The upstream sees exactly what the sender sent, minus X-Scgate-*
// headers, plus the gateway's own; and it can verify the signature itself.
func TestForwardedRequestIsByteIdentical(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	// An upstream that verifies the signature itself, as an application
	// behind the gateway still may.
	up.Respond(func(_ int, r gatewaytest.Request) int {
		if _, err := mustVerifier(t, secret).Verify(r.Body, r.Header.Values(sigHeader)); err != nil {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	})
	for _, mode := range []string{"content-length", "chunked"} {
		t.Run(mode, func(t *testing.T) {
			id := uid(t)
			body := "\t{ \"event\" :\"screenshot.finished\" ,\r\n  \"screenshot_id\": \"" + id + "\",\n" +
				`  "caption": "caf\u00e9 \ud83d\ude00 \"quoted\" \\ / \/",` + "\n" +
				"  \"raw\": \"café 😀\", \"n\": 1.50E+2, \"list\" : [ 1 ,2,\t3 ] , \"nested\":{\"event\":\"ignored\"}\n}\n\n  "
			req := request(t, body,
				"User-Agent", "ScreenshotCenter-Webhook/1.0",
				"X-ScreenshotCenter-Event", "screenshot.finished",
				"X-Custom", "one",
				"X-Custom", "two",
				"X-Scgate-Verified", "spoofed",
				"X-Scgate-Dedupe-Key", "spoofed",
				"x-scgate-anything", "spoofed",
			)
			sig := req.Header.Get(sigHeader)
			if mode == "chunked" {
				req = chunked(req, body)
			}
			got := forwardedOnce(t, up, req)
			if string(got.Body) != body {
				t.Errorf("body changed:\n got %q\nwant %q", got.Body, body)
			}
			if got.ContentLength != int64(len(body)) || got.Header.Get("Content-Length") != strconv.Itoa(len(body)) || len(got.TransferEncoding) != 0 {
				t.Errorf("length: ContentLength %d, header %q, Transfer-Encoding %v; want %d", got.ContentLength, got.Header.Get("Content-Length"), got.TransferEncoding, len(body))
			}
			wantHeaders := map[string][]string{
				sigHeader:                  {sig},
				"User-Agent":               {"ScreenshotCenter-Webhook/1.0"},
				"X-Screenshotcenter-Event": {"screenshot.finished"},
				"Content-Type":             {"application/json"},
				"X-Custom":                 {"one", "two"},
				"X-Scgate-Verified":        {"true"},
				"X-Scgate-Dedupe-Key":      {`"screenshot.finished" screenshot_id "` + id + `"`},
				"X-Scgate-Anything":        nil,
			}
			for name, want := range wantHeaders {
				if v := got.Header.Values(name); !reflect.DeepEqual(v, want) && !(len(v) == 0 && len(want) == 0) {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			if got.Method != http.MethodPost || got.RequestURI != "/hook" {
				t.Errorf("upstream got %s %s, want POST /hook", got.Method, got.RequestURI)
			}
		})
	}
}

// 8. A failed delivery releases the claim so the retry gets through.
func TestUpstreamErrorStatusReleasesTheClaim(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	for _, status := range []int{500, 502, 503, 404, 429, 301} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			up.Reset()
			up.FailFirst(1, status)
			body := event(t, "screenshot.finished")
			got := post(t, body)
			if got.Status != status || got.Outcome() != "" {
				t.Fatalf("first attempt: %d %q, want the upstream's %d", got.Status, got.Outcome(), status)
			}
			expect(t, "retry", post(t, body), 200, "")
			expect(t, "second retry", post(t, body), 200, "duplicate")
			if n := up.Count(); n != 2 {
				t.Fatalf("upstream received %d requests, want 2", n)
			}
		})
	}
}

// 8. Upstream down: 502, and the retry passes once it is up.
func TestUpstreamDownIs502AndTheRetryPassesOnceItIsUp(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(gatewaytest.FreePort(t))
	loadGateway(t, addr, "")
	body := event(t, "screenshot.finished")
	expect(t, "upstream down", post(t, body), http.StatusBadGateway, "")
	expect(t, "still down", post(t, body), http.StatusBadGateway, "")
	up := gatewaytest.NewUpstreamAt(t, addr)
	expect(t, "upstream up", post(t, body), 200, "")
	expect(t, "retry", post(t, body), 200, "duplicate")
	if n := up.Count(); n != 1 {
		t.Fatalf("upstream received %d requests, want 1", n)
	}
}

// 8. A client that hangs up while the upstream works does not cancel the
// upstream call: the upstream already has the whole event, and its answer
// settles the claim. A 2xx commits it (a retry is a duplicate, also when
// the answer cannot be written to the gone client); anything else
// releases it (the retry is forwarded).
func TestClientGoneTheUpstreamAnswerSettlesTheClaim(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "")
	for _, c := range []struct {
		name    string
		status  int
		body    []byte
		outcome string // of the retry
		calls   int    // upstream calls in all
	}{
		{"2xx commits", 200, nil, "duplicate", 1},
		{"2xx the gone client cannot be sent commits", 200, make([]byte, 8<<20), "duplicate", 1},
		{"5xx releases", 500, nil, "", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			up.Reset()
			up.SetBody(c.body)
			body := event(t, "screenshot.finished")
			arrived := up.Notify(1)
			// The upstream works for a while, as a real one does: the
			// gateway sees the hang-up long before the answer (no verdict
			// depends on how long).
			up.Respond(func(n int, _ gatewaytest.Request) int {
				if n == 0 {
					time.Sleep(slowUpstream)
					return c.status
				}
				return 200
			})
			req, cancel := withCancel(request(t, body))
			done := sendInBackground(req)
			waitFor(t, arrived)
			up.SetBody(nil) // the first answer has its body; the retries get "ok"
			cancel()
			if got := <-done; got.err == nil {
				t.Fatal("the canceled request got an answer")
			}
			expect(t, "retry after the client hung up", postSettled(t, body), 200, c.outcome)
			expect(t, "second retry", post(t, body), 200, "duplicate")
			if n := up.Count(); n != c.calls {
				t.Fatalf("the upstream received %d requests, want %d", n, c.calls)
			}
		})
	}
}

// 8. The upstream call stays bounded when the client hung up: when the
// claim lapses (inflight_timeout) the gateway gives it up (504) and
// releases the claim, so nothing it started runs on for ever. A client
// still waiting then gets the 504.
func TestUpstreamCallEndsWhenTheClaimLapses(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	loadGateway(t, up.Addr, "dedupe memory {\n\t\t\tinflight_timeout 1s\n\t\t}")
	for _, c := range []struct {
		name   string
		hangUp bool
	}{{"client gone", true}, {"client waiting", false}} {
		hangUp := c.hangUp
		t.Run(c.name, func(t *testing.T) {
			up.Reset()
			body := event(t, "screenshot.finished")
			arrived := up.Notify(1)
			givenUp := make(chan struct{})
			up.Respond(func(n int, req gatewaytest.Request) int {
				if n == 0 {
					select {
					case <-req.Done:
						close(givenUp)
					case <-time.After(30 * time.Second): // the test fails below; do not hang
					}
				}
				return 200
			})
			req, cancel := withCancel(request(t, body))
			defer cancel()
			done := sendInBackground(req)
			waitFor(t, arrived)
			if hangUp {
				cancel()
			}
			select {
			case <-givenUp:
			case <-time.After(20 * time.Second):
				t.Fatal("the gateway did not give up the upstream call after the claim lapsed")
			}
			if got := <-done; !hangUp && got.status != http.StatusGatewayTimeout {
				t.Errorf("the waiting client got %d (%v), want 504", got.status, got.err)
			}
			expect(t, "retry after the claim lapsed", postSettled(t, body), 200, "")
		})
	}
}

// 9. Placeholders, for later handlers, the upstream, error routes and logs.
func TestPlaceholders(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	accessLog := t.TempDir() + "/access.log"
	load(t, config(`http://127.0.0.1:{{HTTP_PORT}} {
	log_append outcome {http.screenshotcenter_webhook.outcome}
	log_append reason {http.screenshotcenter_webhook.reason}
	log {
		output file {{LOG}}
		format json
	}
	route {
		screenshotcenter_webhook {
			secret `+secret+` `+otherSecret+`
			events screenshot.finished batch.finished
		}
		header X-Seen-Event "{http.screenshotcenter_webhook.event}"
		header X-Seen-Key "{http.screenshotcenter_webhook.dedupe_key}"
		request_header X-Up-Event "{http.screenshotcenter_webhook.event}"
		request_header X-Up-Screenshot "{http.screenshotcenter_webhook.screenshot_id}"
		request_header X-Up-Key "{http.screenshotcenter_webhook.dedupe_key}"
		request_header X-Up-Secret-Index "{http.screenshotcenter_webhook.secret_index}"
		reverse_proxy {{UPSTREAM}}
	}
	handle_errors {
		respond "outcome={http.screenshotcenter_webhook.outcome} status={err.status_code} reason={http.screenshotcenter_webhook.reason}"
	}
}
`, "UPSTREAM", up.Addr, "LOG", accessLog))

	id := uid(t)
	body := `{"event":"screenshot.finished","screenshot_id":"` + id + `"}`
	got := post(t, body, sigHeader, sign(otherSecret, body))
	expect(t, "delivery", got, 200, "")
	if got.Header.Get("X-Seen-Event") != "screenshot.finished" || got.Header.Get("X-Seen-Key") != `"screenshot.finished" screenshot_id "`+id+`"` {
		t.Errorf("response headers from placeholders: event %q, key %q", got.Header.Get("X-Seen-Event"), got.Header.Get("X-Seen-Key"))
	}
	upHeaders := up.Requests()[0].Header
	for name, want := range map[string]string{
		"X-Up-Event":        "screenshot.finished",
		"X-Up-Screenshot":   id,
		"X-Up-Key":          `"screenshot.finished" screenshot_id "` + id + `"`,
		"X-Up-Secret-Index": "1",
	} {
		if v := upHeaders.Get(name); v != want {
			t.Errorf("upstream header %s = %q, want %q", name, v, want)
		}
	}

	// The answers the gateway gives itself, and their outcome in the access
	// log (each request is tagged with X-Step to find its line).
	release := make(chan struct{})
	arrived := up.Notify(1)
	up.Respond(func(n int, _ gatewaytest.Request) int {
		if n == 1 {
			<-release
		}
		return 200
	})
	inflight := event(t, "batch.finished")
	first := make(chan result, 1)
	go func() { first <- post(t, inflight, "X-Step", "in-flight-first") }()
	waitFor(t, arrived)
	steps := []struct {
		step    string
		send    func() result
		status  int
		outcome string
		reason  string
	}{
		{"duplicate", func() result { return post(t, body, "X-Step", "duplicate") }, 200, "duplicate", "none"},
		{"ignored", func() result { return post(t, event(t, "screenshot.failed"), "X-Step", "ignored") }, 200, "ignored", "none"},
		{"rejected", func() result { return post(t, body, sigHeader, "", "X-Step", "rejected") }, 401, "rejected", "signature_missing"},
		{"in-flight-copy", func() result { return post(t, inflight, "X-Step", "in-flight-copy") }, 409, "in_flight", "in_flight"},
	}
	for _, s := range steps {
		got := s.send()
		if got.Status != s.status {
			t.Fatalf("%s: status %d, want %d", s.step, got.Status, s.status)
		}
		if s.status >= 400 {
			// An unset placeholder stays as written in a respond body.
			want := fmt.Sprintf("outcome=%s status=%d reason=%s", s.outcome, s.status, s.reason)
			if s.reason == "none" {
				want = fmt.Sprintf("outcome=%s status=%d reason={http.screenshotcenter_webhook.reason}", s.outcome, s.status)
			}
			if got.Body != want {
				t.Errorf("%s: error route body %q, want %q", s.step, got.Body, want)
			}
		}
	}
	close(release)
	expect(t, "in-flight event", <-first, 200, "")

	// An unset reason is null (or absent) in the access log.
	want := map[string][2]string{"": {"forwarded", "none"}, "in-flight-first": {"forwarded", "none"}}
	for _, s := range steps {
		want[s.step] = [2]string{s.outcome, s.reason}
	}
	var lines []map[string]any
	eventually.Succeeds(t, 15*time.Second, func() error {
		if lines = readJSONLines(t, accessLog); len(lines) < len(want) {
			return fmt.Errorf("the access log has %d lines, want %d", len(lines), len(want))
		}
		return nil
	})
	for _, line := range lines {
		step := ""
		if hdr, ok := line["request"].(map[string]any)["headers"].(map[string]any)["X-Step"].([]any); ok && len(hdr) == 1 {
			step, _ = hdr[0].(string)
		}
		w, ok := want[step]
		if !ok {
			t.Errorf("unexpected access log line for step %q", step)
			continue
		}
		delete(want, step)
		reason := line["reason"]
		if reason == nil {
			reason = "none"
		}
		if line["outcome"] != w[0] || reason != w[1] {
			t.Errorf("access log of %q: outcome %v reason %v, want %s %q", step, line["outcome"], line["reason"], w[0], w[1])
		}
	}
	if len(want) != 0 {
		t.Errorf("no access log line for %v", want)
	}
}

func mustVerifier(t *testing.T, secrets ...string) *verifier.Verifier {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	v, err := verifier.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readJSONLines reads a JSON-lines log file; a missing file is empty.
func readJSONLines(t *testing.T, path string) []map[string]any {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			// A line being written; the caller polls again.
			break
		}
		out = append(out, m)
	}
	return out
}
