package screenshotcenterwebhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	benchServeHTTP(b, "", webhook.ScreenshotFinished, webhook.Sample(benchID, 600))
}

// BenchmarkServeHTTPReencode is BenchmarkServeHTTP600B for a pretty-printed
// 600-byte event and a pretty-printed 64 KiB batch.finished, each without
// reencode and with `reencode js`: the difference is the cost of
// re-encoding and signing the forwarded body again.
func BenchmarkServeHTTPReencode(b *testing.B) {
	bodies := []struct {
		name, event string
		body        []byte
	}{
		{"event600B", webhook.ScreenshotFinished, webhook.SampleIndented(benchID, 600)},
		{"batch64KiB", webhook.BatchFinished, webhook.SampleBatch(benchID, 64<<10)},
	}
	for _, bb := range bodies {
		for _, mode := range []struct{ name, options string }{{"off", ""}, {"js", "reencode js"}} {
			b.Run(bb.name+"/"+mode.name, func(b *testing.B) {
				benchServeHTTP(b, mode.options, bb.event, bb.body)
			})
		}
	}
}

// benchID stands for the event's id in a benchmark's body template; each
// request gets a fresh id of the same length (benchIDFor).
const benchID = "sc_bench_id_0000000000"

func benchIDFor(round, i int) string { return fmt.Sprintf("sc_%09d_%09d", round, i) }

// benchServeHTTP runs ServeHTTP of a handler with the given Caddyfile
// options for first-seen events made from template (sent with the event
// header), and fails if any of them was not forwarded (a duplicate or a
// rejection would measure the wrong path).
func benchServeHTTP(b *testing.B, options, event string, template []byte) {
	const secret = "bench-secret-0123456789"
	h := &Handler{app: new(App)}
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`screenshotcenter_webhook {
		secret ` + secret + `
		` + options + `
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
	// Started as a config that serves (the body budget's limit, the
	// memory store's bound).
	if err := h.app.Start(); err != nil {
		b.Fatal(err)
	}
	// Caddy's default log level is INFO, where a forwarded event logs
	// nothing; the test context's logger would write debug lines.
	h.logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(io.Discard), zapcore.InfoLevel))
	// Bodies are prepared in rounds of up to 64 MiB, outside the timer.
	batch := min(max((64<<20)/len(template), 16), 1<<14)
	bodies := make([][]byte, batch)
	sigs := make([]string, batch)
	fill := func(round int) {
		for j := range bodies {
			bodies[j] = bytes.Replace(template, []byte(benchID), []byte(benchIDFor(round, j)), 1)
			sigs[j] = verifier.Sign([]byte(secret), bodies[j])
		}
	}
	fill(0)
	forwarded := 0
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.Copy(io.Discard, r.Body)
		forwarded++
		w.WriteHeader(http.StatusOK)
		return nil
	})
	w := httptest.NewRecorder()
	b.SetBytes(int64(len(template)))
	b.ReportAllocs()
	i, round, requests := 0, 0, 0
	for b.Loop() {
		if i == batch {
			// Used up: new ids for the next round, untimed.
			b.StopTimer()
			round++
			fill(round)
			i = 0
			b.StartTimer()
		}
		r, _ := http.NewRequest(http.MethodPost, "/hook", bytes.NewReader(bodies[i]))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(webhook.HeaderEvent, event)
		r.Header.Set(webhook.HeaderSignature, sigs[i])
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		w.Code = 0
		if err := h.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
		i++
		requests++
	}
	if forwarded != requests {
		b.Fatalf("%d of %d events forwarded", forwarded, requests)
	}
}

// BenchmarkServeHTTPBaseline600B builds the same requests and calls the
// same upstream handler directly, without the gateway: subtract it from
// BenchmarkServeHTTP600B for the handler's own cost.
func BenchmarkServeHTTPBaseline600B(b *testing.B) {
	body := webhook.Sample("sc_baseline", 600)
	sig := verifier.Sign([]byte("bench-secret-0123456789"), body)
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
