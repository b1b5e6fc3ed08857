package dedupe_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scgate/scgate/dedupe"
)

// A damaged snapshot file (empty, truncated, garbage) is never a panic
// and never silently replaced: the error names the file, the store starts
// empty with an error log line that says so, and the damaged file is moved
// aside (to <path>.damaged) so that the next save does not destroy it.
func TestDamagedSnapshotFileIsMovedAsideAndLogged(t *testing.T) {
	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	for _, k := range []string{"a", "b", "c"} {
		_, tok, _ := a.Claim(context.Background(), k, time.Hour)
		_ = a.Commit(context.Background(), k, tok, time.Hour)
	}
	var buf bytes.Buffer
	if _, err := a.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)/2],
		"garbage":   bytes.Repeat([]byte{0xA5}, 256),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dedupe.snap")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := dedupe.NewMemoryStore(0)
			if _, err := s.LoadSnapshot(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadSnapshot = %v, want an error naming the file", err)
			}
			s.Close()

			core, logs := observer.New(zap.InfoLevel)
			p := dedupe.NewPersistedStore(0, path, time.Hour, zap.New(core))
			if p.Len() != 0 {
				t.Errorf("a damaged snapshot added %d keys", p.Len())
			}
			// Something to save, so Close writes a new snapshot.
			_, tok, _ := p.Claim(context.Background(), "new", time.Hour)
			_ = p.Commit(context.Background(), "new", tok, time.Hour)
			p.Close()
			errs := logs.FilterLevelExact(zap.ErrorLevel).All()
			if len(errs) != 1 || !strings.Contains(errs[0].Message, "moved aside") {
				t.Fatalf("error log lines %v, want one saying the file was moved aside", errs)
			}
			if kept, err := os.ReadFile(path + ".damaged"); err != nil || !bytes.Equal(kept, data) {
				t.Fatalf("the damaged file was not kept at %s.damaged (%v)", path, err)
			}
			fresh := dedupe.NewMemoryStore(0)
			defer fresh.Close()
			if n, err := fresh.LoadSnapshot(path); err != nil || n != 1 {
				t.Fatalf("the new snapshot: %d keys, %v; want 1", n, err)
			}
		})
	}
}
