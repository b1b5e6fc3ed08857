package webhook

import (
	"testing"
)

func benchmarkParse(b *testing.B, size int) {
	body := Sample("sc_bench_0001", size)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(body)
		if err != nil || f.ScreenshotID == nil {
			b.Fatal(err)
		}
	}
}

// The extraction of the dedupe key and checked fields from the body.
func BenchmarkParse600B(b *testing.B)  { benchmarkParse(b, 600) }
func BenchmarkParse64KiB(b *testing.B) { benchmarkParse(b, 64<<10) }

func BenchmarkParseAndKey600B(b *testing.B) {
	body := Sample("sc_bench_0001", 600)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse(body)
		if err != nil {
			b.Fatal(err)
		}
		if f.ScreenshotID == nil {
			b.Fatal("no screenshot_id")
		}
	}
}
