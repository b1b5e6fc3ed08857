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

// A snapshot that cannot be loaded (empty, truncated, garbage, unreadable)
// is an error that names the file and what to do, never a panic nor a
// silently empty store, and the file is left as it is.
func TestDamagedSnapshotFileIsAnError(t *testing.T) {
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
	for _, tc := range []struct {
		name string
		data []byte // nil: a directory in place of the file
		want string
	}{
		{"empty", []byte{}, "dedupe snapshot is corrupt: the file is empty; move it aside"},
		{"truncated", good[:len(good)/2], "dedupe snapshot is corrupt: truncated; move it aside"},
		{"garbage", bytes.Repeat([]byte{0xA5}, 256), "dedupe snapshot is corrupt: no snapshot header; move it aside"},
		{"flipped byte", append(append([]byte(nil), good[:20]...), append([]byte{good[20] ^ 1}, good[21:]...)...), "checksum mismatch; move it aside"},
		{"unreadable", nil, "is a directory; make it readable by this process, or move it aside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dedupe.snap")
			var err error
			if tc.data == nil {
				err = os.Mkdir(path, 0o700)
			} else {
				err = os.WriteFile(path, tc.data, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.InfoLevel)
			p, err := dedupe.NewPersistedStore(0, path, time.Hour, zap.New(core))
			if err == nil {
				p.Close()
				t.Fatal("a damaged snapshot loaded")
			}
			for _, want := range []string{path + ": ", tc.want, "(e.g. mv " + path + " " + path + ".damaged) or delete it to start with an empty memory store"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if n := logs.Len(); n != 0 {
				t.Errorf("%d log lines; the error is the caller's to report", n)
			}
			if tc.data != nil {
				if kept, err := os.ReadFile(path); err != nil || !bytes.Equal(kept, tc.data) {
					t.Errorf("the damaged file was changed (%v)", err)
				}
			}
			if _, err := os.Stat(path + ".damaged"); err == nil {
				t.Error("the file was moved aside without being asked")
			}
		})
	}
}
