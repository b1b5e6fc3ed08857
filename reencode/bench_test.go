package reencode

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scgate/scgate/webhook"
)

// eventBody is a realistic screenshot.finished event of about 600 bytes,
// pretty-printed as many senders do.
func eventBody(testing.TB) []byte { return webhook.SampleIndented("sc_8f3a2b1c9d", 600) }

// batchBody is a pretty-printed batch.finished event of 64 KiB with a
// result per job (strings, integers, a float, some non-ASCII).
func batchBody(testing.TB) []byte { return webhook.SampleBatch("b_20260222_0001", 64<<10) }

func benchBodies(b *testing.B) []struct {
	name string
	body []byte
} {
	return []struct {
		name string
		body []byte
	}{{"event600B", eventBody(b)}, {"batch64KiB", batchBody(b)}}
}

// BenchmarkAppend re-encodes each body in each style into a buffer with
// room, as the gateway does with a pooled buffer.
func BenchmarkAppend(b *testing.B) {
	for _, bb := range benchBodies(b) {
		for _, s := range styles {
			b.Run(bb.name+"/"+s.String(), func(b *testing.B) {
				dst := make([]byte, 0, 2*len(bb.body))
				if _, err := Append(dst, bb.body, s); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(bb.body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Append(dst[:0], bb.body, s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkBaseline measures, on the same bodies, encoding/json's Compact
// (validating and removing whitespace: a floor for a single pass) and
// Unmarshal plus Marshal (the obvious re-encoder, though it sorts keys and
// formats numbers its own way).
func BenchmarkBaseline(b *testing.B) {
	for _, bb := range benchBodies(b) {
		b.Run(bb.name+"/compact", func(b *testing.B) {
			var dst bytes.Buffer
			dst.Grow(len(bb.body))
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				dst.Reset()
				if err := json.Compact(&dst, bb.body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/unmarshal-marshal", func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := json.Unmarshal(bb.body, &v); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendNestedRewrites is the costliest shape per byte: 1 MiB
// nested 500 deep where every object is rewritten when it closes (JS moves
// its index key first; every style drops a repeated key), so each level
// copies everything inside it again.
func BenchmarkAppendNestedRewrites(b *testing.B) {
	const depth = 500
	payload := `"` + strings.Repeat("x", 1<<20-12*depth) + `"`
	bodies := map[string][]byte{
		"index-keys": []byte(strings.Repeat(`{"b":0,"1":`, depth) + payload + strings.Repeat("}", depth)),
		"duplicates": []byte(strings.Repeat(`{"a":0,"b":`, depth) + payload + strings.Repeat(`,"a":1}`, depth)),
	}
	for _, name := range []string{"index-keys", "duplicates"} {
		for _, s := range styles {
			body := bodies[name]
			b.Run(name+"/"+s.String(), func(b *testing.B) {
				dst := make([]byte, 0, 2*len(body))
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if _, err := Append(dst[:0], body, s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
