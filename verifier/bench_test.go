package verifier

import (
	"testing"

	"github.com/scgate/scgate/webhook"
)

func benchmarkVerify(b *testing.B, size int) {
	secret := []byte("benchmark-secret-0123456789")
	body := webhook.Sample("sc_bench", size)
	hdr := []string{Sign(secret, body)}
	v, err := New([][]byte{secret})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(body, hdr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify600B(b *testing.B)  { benchmarkVerify(b, 600) }
func BenchmarkVerify64KiB(b *testing.B) { benchmarkVerify(b, 64<<10) }
