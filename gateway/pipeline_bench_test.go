package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
	"github.com/scgate/scgate/verifier"
	"github.com/scgate/scgate/webhook"
)

// BenchmarkPipeline600B is the gateway's whole per-request work for a
// first-seen 600-byte event, without the network and without Caddy: buffer
// the body, verify, read the fields, build the key, claim, commit. Bodies
// are unique and signed before the timer runs; when they are used up the store
// is replaced, untimed, so each claim is of a new key.
func BenchmarkPipeline600B(b *testing.B) { benchmarkPipeline(b, 600) }

// BenchmarkPipeline64KiB is the same with 64 KiB bodies.
func BenchmarkPipeline64KiB(b *testing.B) { benchmarkPipeline(b, 64<<10) }

func benchmarkPipeline(b *testing.B, size int) {
	// About 32 MiB of distinct bodies: enough to cycle, small enough that
	// the setup does not dominate the heap.
	batch := min(1<<14, (32<<20)/size)
	c := newChecker(b, func(c *Checker) { c.MaxBody = 1 << 20 })
	bodies := make([][]byte, batch)
	sigs := make([]string, batch)
	for i := range bodies {
		bodies[i] = webhook.Sample("sc_"+strconv.Itoa(1e9+i), size)
		sigs[i] = verifier.Sign([]byte(secret), bodies[i])
	}
	ctx := context.Background()
	store := dedupe.NewMemoryStore(0)
	rd := new(bytes.Reader)
	r, _ := http.NewRequest(http.MethodPost, "/hook", nil)
	r.Body = io.NopCloser(rd)
	r.Header.Set(webhook.HeaderEvent, webhook.ScreenshotFinished)
	sigLine := []string{""}
	r.Header["X-Screenshotcenter-Signature"] = sigLine
	now := time.Now()

	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			store.Close()
			store = dedupe.NewMemoryStore(0)
			i = 0
			b.StartTimer()
		}
		rd.Reset(bodies[i])
		r.ContentLength = int64(len(bodies[i]))
		sigLine[0] = sigs[i]
		ev, rej := c.Check(r, Source{}, now)
		if rej != nil || ev.Ignored {
			b.Fatal(rej)
		}
		key := DefaultKey(ev)
		st, tok, err := store.Claim(ctx, key, time.Minute)
		if err != nil || st != dedupe.Claimed {
			b.Fatal(st, err)
		}
		if err := store.Commit(ctx, key, tok, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
