package dedupe_test

import (
	"context"
	"testing"
	"time"

	"github.com/scgate/scgate/dedupe"
)

// BenchmarkMemoryDuplicate measures the answer to a retried event.
func BenchmarkMemoryDuplicate(b *testing.B) {
	ctx := context.Background()
	s := dedupe.NewMemoryStore(0)
	_, tok, _ := s.Claim(ctx, "screenshot.finished|sc_1", time.Minute)
	_ = s.Commit(ctx, "screenshot.finished|sc_1", tok, time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if st, _, err := s.Claim(ctx, "screenshot.finished|sc_1", time.Minute); err != nil || st != dedupe.Done {
			b.Fatal(st, err)
		}
	}
}
