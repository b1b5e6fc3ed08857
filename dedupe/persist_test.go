package dedupe_test

import (
	"bytes"
	"context"
	"errors"
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
			p := dedupe.NewPersistedStore(0, path, time.Hour, zap.New(core))
			defer p.Close()
			err = p.Start()
			if err == nil {
				t.Fatal("a damaged snapshot loaded")
			}
			if again := p.Start(); again == nil || again.Error() != err.Error() {
				t.Errorf("second Start: %v, want the first one's error", again)
			}
			if _, _, err := p.Claim(context.Background(), "a", time.Minute); !errors.Is(err, dedupe.ErrUnavailable) {
				t.Errorf("claim on a store whose snapshot did not load: %v, want ErrUnavailable", err)
			}
			for _, want := range []string{path + ": ", tc.want, "(e.g. mv " + path + " " + path + ".damaged) or delete it to start with an empty memory store"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if n := logs.Len(); n != 0 {
				t.Errorf("%d log lines; the error is the caller's to report", n)
			}
			p.Close()
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

// A persisted store opens its snapshot at Start, not when it is made: made
// and closed without a start (a config that is only validated), it leaves
// even a damaged file alone without a word. A claim made before Start waits
// for the snapshot, so it sees the keys the snapshot remembers.
func TestPersistedStoreLoadsAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dedupe.snap")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	unstarted := dedupe.NewPersistedStore(0, path, time.Hour, zap.New(core))
	if err := unstarted.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Start(); err == nil {
		t.Error("a closed store started")
	}
	if kept, err := os.ReadFile(path); err != nil || string(kept) != "garbage" {
		t.Errorf("a store never started changed its file (%v)", err)
	}
	if n := logs.Len(); n != 0 {
		t.Errorf("a store never started logged %d lines: %v", n, logs.All())
	}

	a := dedupe.NewMemoryStore(0)
	defer a.Close()
	_, tok, _ := a.Claim(context.Background(), "remembered", time.Hour)
	_ = a.Commit(context.Background(), "remembered", tok, time.Hour)
	if _, err := a.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	p := dedupe.NewPersistedStore(0, path, time.Hour, zap.NewNop())
	defer p.Close()
	// Before Start the claim waits (here for a context that is done), it
	// never answers from the empty store.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if state, _, err := p.Claim(done, "remembered", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("claim before Start: %v, %v; want it to wait for the snapshot", state, err)
	}
	type result struct {
		state dedupe.State
		err   error
	}
	early := make(chan result, 1)
	go func() {
		state, _, err := p.Claim(context.Background(), "remembered", time.Minute)
		early <- result{state, err}
	}()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if got := <-early; got.err != nil || got.state != dedupe.Done {
		t.Errorf("claim made around Start: %v, %v; want done (the snapshot's key)", got.state, got.err)
	}
}
