package screenshotcenterwebhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// BenchmarkServeHTTP600B is the handler's whole ServeHTTP for a first-seen
// 600-byte event with the Caddy glue (placeholders, headers, response
// recorder) and the memory store, with an upstream that answers 200 in
// process. Compare it with gateway.BenchmarkPipeline600B to see the glue.
func BenchmarkServeHTTP600B(b *testing.B) {
	const secret = "bench-secret"
	h := &Handler{app: new(App)}
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`screenshotcenter_webhook {
		secret ` + secret + `
	}`)); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	defer h.Cleanup()
	if err := h.Validate(); err != nil {
		b.Fatal(err)
	}
	// Caddy's default log level is INFO, where a forwarded event logs
	// nothing; the test context's logger would write debug lines.
	h.logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	// Other tests share the process-wide memory store: use ids of our own.
	prefix := "sc_bench_" + strconv.FormatInt(int64(b.N), 36) + "_"
	const batch = 1 << 14
	bodies := make([][]byte, batch)
	sigs := make([]string, batch)
	for i := range bodies {
		bodies[i] = webhook.Sample(prefix+strconv.Itoa(1e9+i), 600)
		sigs[i] = verifier.Sign([]byte(secret), bodies[i])
	}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	w := httptest.NewRecorder()
	b.ReportAllocs()
	i, round := 0, 0
	for b.Loop() {
		if i == batch {
			// Used up: new ids for the next round, untimed.
			b.StopTimer()
			round++
			for j := range bodies {
				bodies[j] = webhook.Sample(prefix+strconv.Itoa(round)+"_"+strconv.Itoa(j), 600)
				sigs[j] = verifier.Sign([]byte(secret), bodies[j])
			}
			i = 0
			b.StartTimer()
		}
		r, _ := http.NewRequest(http.MethodPost, "/hook", bytes.NewReader(bodies[i]))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(webhook.HeaderEvent, webhook.ScreenshotFinished)
		r.Header.Set(webhook.HeaderSignature, sigs[i])
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		w.Code = 0
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkServeHTTPBaseline600B builds the same requests and calls the
// same upstream handler directly, without the gateway: subtract it from
// BenchmarkServeHTTP600B for the handler's own cost.
func BenchmarkServeHTTPBaseline600B(b *testing.B) {
	body := webhook.Sample("sc_baseline", 600)
	sig := verifier.Sign([]byte("bench-secret"), body)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(webhook.HeaderEvent, webhook.ScreenshotFinished)
		r.Header.Set(webhook.HeaderSignature, sig)
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		if err := next.ServeHTTP(w, r); err != nil {
			b.Fatal(err)
		}
	}
}
