package screenshotcenterwebhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/scgate/scgate/verifier"
)

// handled is what one request through the handler did.
type handled struct {
	status   int    // the handler error's status, or the status written
	outcome  string // the outcome placeholder
	reason   string // the reason placeholder
	header   http.Header
	upstream *http.Request // the request the next handler got, if any
	body     string        // the body the next handler read
	answer   []byte        // the body the gateway answered, when it answered itself
	delivery string        // the delivery_id placeholder
}

// handle runs req through h in front of next (nil: a handler that reads the
// body and answers 200) and reports what happened, from the placeholders
// the handler set, as an access log would see them.
func handle(t *testing.T, h *Handler, req *http.Request, next caddyhttp.HandlerFunc) handled {
	t.Helper()
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	w := httptest.NewRecorder()
	var got handled
	if next == nil {
		next = func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusOK)
			return nil
		}
	}
	err := h.ServeHTTP(w, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		got.upstream = r
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("upstream reading the body: %v", err)
		}
		got.body = string(b)
		return next(w, r)
	}))
	var he caddyhttp.HandlerError
	switch {
	case errors.As(err, &he):
		got.status = he.StatusCode
	case err != nil:
		t.Fatalf("ServeHTTP: %v", err)
	default:
		got.status = w.Code
	}
	got.outcome, _ = repl.GetString(placeholderPrefix + "outcome")
	got.reason, _ = repl.GetString(placeholderPrefix + "reason")
	got.delivery, _ = repl.GetString(placeholderPrefix + "delivery_id")
	got.header, got.answer = w.Header(), w.Body.Bytes()
	return got
}

// signed is a POST of body signed with secret.
func signed(secret, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set("X-ScreenshotCenter-Signature", verifier.Sign([]byte(secret), []byte(body)))
	return req
}

// Every answer of the README's table, at the handler: its status, outcome
// and reason code (the placeholders logs and metrics use), and whether the
// upstream was reached. The integration tests repeat them through Caddy.
func TestAnswers(t *testing.T) {
	h := &Handler{
		Secrets: []string{testSecret},
		MaxBody: 1024,
		MaxAge:  caddy.Duration(time.Hour),
		Events:  []string{"screenshot.finished", "batch.finished"},
		Dedupe:  &DedupeConfig{MaxKeys: 1 << 20},
	}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	keyed := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{Key: "{event}/{batch_id}"}}
	if err := provision(t, keyed); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	id := 0
	fresh := func(event string) string {
		id++
		return `{"event":"` + event + `","screenshot_id":"sc_answers_` + strconv.Itoa(id) + `","created_at":"` + now + `"}`
	}
	delivered := fresh("screenshot.finished")
	if got := handle(t, h, signed(testSecret, delivered), nil); got.outcome != outcomeForwarded {
		t.Fatalf("first delivery: %+v", got)
	}
	tests := []struct {
		name      string
		handler   *Handler
		req       func() *http.Request
		next      caddyhttp.HandlerFunc
		status    int
		outcome   string
		reason    string
		forwarded bool
	}{
		{"not POST", h, func() *http.Request {
			r := signed(testSecret, fresh("screenshot.finished"))
			r.Method = http.MethodGet
			return r
		},
			nil, 405, outcomeRejected, "method_not_allowed", false},
		{"body over max_body", h, func() *http.Request {
			return signed(testSecret, fresh("screenshot.finished")+strings.Repeat(" ", 1024))
		},
			nil, 413, outcomeRejected, "body_too_large", false},
		{"body read fails", h, func() *http.Request {
			r := signed(testSecret, fresh("screenshot.finished"))
			r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
			return r
		}, nil, 400, outcomeRejected, "body_read_failed", false},
		{"no signature", h, func() *http.Request {
			r := signed(testSecret, fresh("screenshot.finished"))
			r.Header.Del("X-ScreenshotCenter-Signature")
			return r
		}, nil, 401, outcomeRejected, "signature_missing", false},
		{"malformed signature", h, func() *http.Request {
			r := signed(testSecret, fresh("screenshot.finished"))
			r.Header.Set("X-ScreenshotCenter-Signature", "sha256=xyz")
			return r
		}, nil, 401, outcomeRejected, "signature_malformed", false},
		{"wrong secret", h, func() *http.Request { return signed("other", fresh("screenshot.finished")) },
			nil, 401, outcomeRejected, "signature_mismatch", false},
		{"not JSON", h, func() *http.Request { return signed(testSecret, `{"event":`) }, nil, 400, outcomeRejected, "body_invalid_json", false},
		{"not an object", h, func() *http.Request { return signed(testSecret, `[1]`) }, nil, 400, outcomeRejected, "body_not_object", false},
		{"no event", h, func() *http.Request { return signed(testSecret, `{"screenshot_id":"x"}`) }, nil, 400, outcomeRejected, "event_missing", false},
		{"repeated key", h, func() *http.Request { return signed(testSecret, `{"event":"a","event":"b"}`) }, nil, 400, outcomeRejected, "duplicate_key", false},
		{"repeated nested key", h, func() *http.Request { return signed(testSecret, `{"event":"a","m":{"x":1,"x":2}}`) }, nil, 400, outcomeRejected, "duplicate_key", false},
		{"invalid UTF-8", h, func() *http.Request { return signed(testSecret, "{\"event\":\"a\",\"note\":\"\xff\"}") }, nil, 400, outcomeRejected, "body_invalid_utf8", false},
		{"key in another case", h, func() *http.Request { return signed(testSecret, `{"event":"a","EVENT":"b"}`) }, nil, 400, outcomeRejected, "ambiguous_key", false},
		{"event header differs", h, func() *http.Request {
			r := signed(testSecret, fresh("screenshot.finished"))
			r.Header.Set("X-ScreenshotCenter-Event", "batch.finished")
			return r
		}, nil, 400, outcomeRejected, "event_header_mismatch", false},
		{"created_at too old", h, func() *http.Request {
			return signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"old","created_at":"2001-01-01T00:00:00Z"}`)
		}, nil, 401, outcomeRejected, "created_at_too_old", false},
		{"event not allowed", h, func() *http.Request {
			return signed(testSecret, `{"event":"app.upload.finished","screenshot_id":"x","created_at":"`+now+`"}`)
		}, nil, 200, outcomeIgnored, "", false},
		{"key template placeholder missing", keyed, func() *http.Request { return signed(testSecret, fresh("screenshot.finished")) },
			nil, 400, outcomeRejected, "dedupe_key_unresolved", false},
		{"already delivered", h, func() *http.Request { return signed(testSecret, delivered) }, nil, 200, outcomeDuplicate, "", false},
		{"upstream fails", h, func() *http.Request { return signed(testSecret, fresh("screenshot.finished")) },
			func(w http.ResponseWriter, r *http.Request) error {
				w.WriteHeader(http.StatusInternalServerError)
				return nil
			},
			500, outcomeUpstreamFailed, "", true},
		// The gateway as the last handler: a loud 502, not an empty 200
		// that would make the sender drop the event.
		{"nothing after the gateway answers", h, func() *http.Request { return signed(testSecret, fresh("screenshot.finished")) },
			func(w http.ResponseWriter, r *http.Request) error { return nil },
			502, outcomeUpstreamFailed, "no_upstream_response", true},
		{"forwarded", h, func() *http.Request { return signed(testSecret, fresh("screenshot.finished")) }, nil, 200, outcomeForwarded, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := handle(t, tt.handler, tt.req(), tt.next)
			if got.status != tt.status || got.outcome != tt.outcome || got.reason != tt.reason || (got.upstream != nil) != tt.forwarded {
				t.Fatalf("got status %d, outcome %q, reason %q, forwarded %v; want %d, %q, %q, %v",
					got.status, got.outcome, got.reason, got.upstream != nil, tt.status, tt.outcome, tt.reason, tt.forwarded)
			}
			if tt.status == 405 && got.header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

// A copy that arrives while the first is with the upstream gets 409 with
// Retry-After; once the first is settled, copies are duplicates.
func TestCopyInFlight(t *testing.T) {
	h := &Handler{Secrets: []string{testSecret}, Dedupe: &DedupeConfig{InflightTimeout: caddy.Duration(90 * time.Second)}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":"sc_in_flight"}`
	arrived, finish := make(chan struct{}), make(chan struct{})
	first := make(chan handled)
	go func() {
		first <- handle(t, h, signed(testSecret, body), func(w http.ResponseWriter, r *http.Request) error {
			close(arrived)
			<-finish
			w.WriteHeader(http.StatusOK)
			return nil
		})
	}()
	<-arrived
	copy := handle(t, h, signed(testSecret, body), nil)
	if copy.status != http.StatusConflict || copy.outcome != outcomeInFlight || copy.header.Get("Retry-After") != "90" || copy.upstream != nil {
		t.Errorf("copy in flight: %+v, want 409, in_flight, Retry-After 90, not forwarded", copy)
	}
	close(finish)
	if got := <-first; got.outcome != outcomeForwarded {
		t.Fatalf("first copy: %+v", got)
	}
	if got := handle(t, h, signed(testSecret, body), nil); got.outcome != outcomeDuplicate {
		t.Errorf("copy after the first was delivered: %+v, want duplicate", got)
	}
}

// What the upstream receives: the verified body with its length (also
// when it came chunked), the gateway's headers and none a client set, and
// no Incremental field (the body was buffered whole).
func TestForwardedRequest(t *testing.T) {
	h := &Handler{Secrets: []string{testSecret}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":"sc_forwarded"}`
	req := signed(testSecret, body)
	req.ContentLength = -1 // as a chunked request arrives
	req.Header.Set("Incremental", "?1")
	req.Header.Set("X-Scgate-Verified", "spoofed")
	req.Header.Set("x-scgate-dedupe-key", "spoofed")
	req.Header.Set("X-Scgate-Other", "spoofed")
	got := handle(t, h, req, nil)
	up := got.upstream
	if up == nil {
		t.Fatalf("not forwarded: %+v", got)
	}
	if got.body != body || up.ContentLength != int64(len(body)) || up.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("upstream body %q with length %d (header %q), want the signed body with its length", got.body, up.ContentLength, up.Header.Get("Content-Length"))
	}
	if up.Header.Get("Incremental") != "" {
		t.Error("Incremental was passed on")
	}
	if up.Header.Get(HeaderVerified) != "true" || up.Header.Get(HeaderDedupeKey) != `"screenshot.finished" screenshot_id "sc_forwarded"` || up.Header.Get("X-Scgate-Other") != "" {
		t.Errorf("gateway headers upstream: %v", up.Header)
	}
}

// Every request is counted by endpoint, mode and outcome, every refusal
// by reason, every verified request by the secret that matched, and the
// gateway's and the store's time is observed.
func TestMetrics(t *testing.T) {
	h := &Handler{Name: "metrics-test", Secrets: []string{oldSecret, newSecret}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	count := func(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }
	forwarded := metricRequests.WithLabelValues("metrics-test", "enforce", outcomeForwarded)
	duplicates := metricRequests.WithLabelValues("metrics-test", "enforce", outcomeDuplicate)
	rejected := metricRequests.WithLabelValues("metrics-test", "enforce", outcomeRejected)
	mismatches := metricRejections.WithLabelValues("metrics-test", "enforce", "signature_mismatch")
	secretNew := metricSecretMatches.WithLabelValues("metrics-test", "1")
	before := []float64{count(forwarded), count(duplicates), count(rejected), count(mismatches), count(secretNew)}
	// The collectors live as long as the process (-count=N runs this
	// test N times in one), so every figure is a difference.
	upstreamBefore := histogramCount(t, metricUpstreamTime.WithLabelValues("metrics-test"))
	body := `{"event":"screenshot.finished","screenshot_id":"sc_metrics"}`
	handle(t, h, signed(newSecret, body), nil)
	handle(t, h, signed(newSecret, body), nil)
	handle(t, h, signed("wrong", body), nil)
	after := []float64{count(forwarded), count(duplicates), count(rejected), count(mismatches), count(secretNew)}
	for i, name := range []string{"forwarded", "duplicate", "rejected", "signature_mismatch", "secret 1 matched"} {
		want := before[i] + 1
		if name == "secret 1 matched" {
			want = before[i] + 2
		}
		if after[i] != want {
			t.Errorf("%s counted %v, want %v", name, after[i], want)
		}
	}
	for _, phase := range []string{phaseRead, phaseVerify, phaseParse, phaseStore} {
		if n := histogramCount(t, metricGatewayTime.WithLabelValues("metrics-test", phase)); n == 0 {
			t.Errorf("no %s time observed", phase)
		}
	}
	for _, op := range []string{"claim", "commit"} {
		if n := histogramCount(t, metricStoreTime.WithLabelValues("metrics-test", op)); n == 0 {
			t.Errorf("no %s time observed", op)
		}
	}
	if n := histogramCount(t, metricUpstreamTime.WithLabelValues("metrics-test")) - upstreamBefore; n != 1 {
		t.Errorf("upstream time observed %d more times, want 1", n)
	}
}

// histogramCount is the number of observations of one histogram series.
func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// In report mode every request is checked and counted as in enforce, and
// passed on unchanged: a bad signature, a duplicate, an ignored event, a
// copy in flight. A valid first-seen event is forwarded (and committed) as
// in enforce, so its retries are reported as duplicates.
func TestReportMode(t *testing.T) {
	h := &Handler{Name: "report-test", Mode: ModeReport, Secrets: []string{testSecret}, Events: []string{"screenshot.finished"}}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"screenshot.finished","screenshot_id":"sc_report"}`
	tests := []struct {
		name    string
		req     func() *http.Request
		outcome string
		reason  string
		gateway bool // the upstream sees the gateway's headers
	}{
		{"first delivery", func() *http.Request { return signed(testSecret, body) }, outcomeForwarded, "", true},
		{"its retry", func() *http.Request { return signed(testSecret, body) }, outcomeDuplicate, "", false},
		{"bad signature", func() *http.Request { return signed("wrong", body) }, outcomeRejected, "signature_mismatch", false},
		{"not allowed event", func() *http.Request { return signed(testSecret, `{"event":"batch.finished","batch_id":"b"}`) }, outcomeIgnored, "", false},
		{"not JSON", func() *http.Request { return signed(testSecret, `{"event":`) }, outcomeRejected, "body_invalid_json", false},
		{"GET", func() *http.Request { r := signed(testSecret, body); r.Method = http.MethodGet; return r }, outcomeRejected, "method_not_allowed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			want, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(want))
			wouldBe := metricRequests.WithLabelValues("report-test", ModeReport, tt.outcome)
			before := testutil.ToFloat64(wouldBe)
			got := handle(t, h, req, nil)
			if got.upstream == nil || got.status != http.StatusOK {
				t.Fatalf("not passed on: %+v", got)
			}
			if got.body != string(want) {
				t.Errorf("passed on %q, want the body unchanged %q", got.body, want)
			}
			if got.outcome != tt.outcome || got.reason != tt.reason {
				t.Errorf("outcome %q reason %q, want %q %q", got.outcome, got.reason, tt.outcome, tt.reason)
			}
			if (got.upstream.Header.Get(HeaderVerified) != "") != tt.gateway {
				t.Errorf("gateway headers upstream: %v", got.upstream.Header)
			}
			if testutil.ToFloat64(wouldBe) != before+1 {
				t.Errorf("%s with mode=report not counted", tt.outcome)
			}
		})
	}
}

// With reencode, the upstream gets its runtime's re-serialisation of the
// verified body, signed again with the secret that verified it, never the
// original signature; a body that runtime cannot process is refused.
func TestReencode(t *testing.T) {
	pretty := "{\n  \"event\": \"screenshot.finished\",\n  \"screenshot_id\": \"sc_reencode_%s\",\n  \"url\": \"https:\\/\\/example.com\\/caf\\u00e9\",\n  \"size\": 1.0\n}"
	tests := []struct {
		style   string
		want    string // the forwarded body; "" when refused
		reason  string
		headers []string // signature headers sent
	}{
		{"js", `{"event":"screenshot.finished","screenshot_id":"sc_reencode_js","url":"https://example.com/café","size":1}`, "", []string{"X-ScreenshotCenter-Signature"}},
		{"python", `{"event": "screenshot.finished", "screenshot_id": "sc_reencode_python", "url": "https://example.com/caf\u00e9", "size": 1.0}`, "", []string{"X-ScreenshotCenter-Signature", "X-Signature"}},
		{"php", `{"event":"screenshot.finished","screenshot_id":"sc_reencode_php","url":"https:\/\/example.com\/caf\u00e9","size":1}`, "", []string{"X-Signature"}},
		{"", strings.ReplaceAll(pretty, "%s", "off"), "", []string{"X-ScreenshotCenter-Signature"}},
	}
	for _, tt := range tests {
		t.Run("style "+tt.style, func(t *testing.T) {
			h := &Handler{Secrets: []string{oldSecret, newSecret}, Reencode: tt.style}
			if err := provision(t, h); err != nil {
				t.Fatal(err)
			}
			name := tt.style
			if name == "" {
				name = "off"
			}
			body := strings.ReplaceAll(pretty, "%s", name)
			req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
			original := verifier.Sign([]byte(newSecret), []byte(body))
			for _, hdr := range tt.headers {
				req.Header.Set(hdr, original)
			}
			got := handle(t, h, req, nil)
			if got.upstream == nil {
				t.Fatalf("not forwarded: %+v", got)
			}
			if got.body != tt.want {
				t.Fatalf("forwarded body\n%s\nwant\n%s", got.body, tt.want)
			}
			if got.upstream.ContentLength != int64(len(tt.want)) {
				t.Errorf("Content-Length %d, want %d", got.upstream.ContentLength, len(tt.want))
			}
			wantSig := verifier.Sign([]byte(newSecret), []byte(tt.want))
			for _, hdr := range tt.headers {
				if s := got.upstream.Header.Get(hdr); s != wantSig {
					t.Errorf("%s = %q, want the signature of the forwarded body %q", hdr, s, wantSig)
				}
			}
			if got.upstream.Header.Get(HeaderReencoded) != tt.style {
				t.Errorf("X-Scgate-Reencoded = %q, want %q", got.upstream.Header.Get(HeaderReencoded), tt.style)
			}
		})
	}
	h := &Handler{Secrets: []string{testSecret}, Reencode: "php"}
	if err := provision(t, h); err != nil {
		t.Fatal(err)
	}
	got := handle(t, h, signed(testSecret, `{"event":"screenshot.finished","screenshot_id":"sc_lone","note":"\ud800"}`), nil)
	if got.status != http.StatusUnprocessableEntity || got.reason != "reencode_lone_surrogate" || got.upstream != nil {
		t.Errorf("a lone surrogate with reencode php: %+v, want 422 reencode_lone_surrogate, not forwarded", got)
	}
}
