package screenshotcentersender_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/gatewaytest"
	"github.com/scgate/scgate/sender"
)

// `scgate deliveries list` and `show` open the store read-only: the file's
// bytes and modification time are unchanged, and they work on a store
// that cannot be written at all.
func TestDeliveriesListAndShowAreReadOnly(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "outbox.db")
	ob, err := sender.OpenOutbox(store, sender.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		d, err := sender.NewDelivery("http://127.0.0.1:9/hook", "screenshot.finished", []byte(lifecycleBody), []byte(secret1), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Enqueue(d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	ob.Close()
	// An mtime in the past, so that any write would show.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(store, old, old); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(store)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(when string) {
		t.Helper()
		after, err := os.ReadFile(store)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(store)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) || !st.ModTime().Equal(old) {
			t.Fatalf("%s changed the store (mtime %v, was %v)", when, st.ModTime(), old)
		}
	}
	runs := []struct {
		name string
		args []string
		want string
	}{
		{"list", []string{"deliveries", "list", "--store", store}, ids[2]},
		{"show", []string{"deliveries", "show", ids[0], "--store", store}, `"state": "pending"`},
	}
	for _, r := range runs {
		out, code := scgate(t, nil, r.args...)
		if code != 0 || !strings.Contains(out, r.want) || strings.Contains(out, secret1) {
			t.Fatalf("%s (%d):\n%s", r.name, code, out)
		}
		unchanged(r.name)
	}
	// Again on a store nobody may write.
	for _, r := range runs {
		out, code := readOnlyStore(t, dir, r.args...)
		if code != 0 || !strings.Contains(out, r.want) {
			t.Fatalf("%s on a read-only store (%d):\n%s", r.name, code, out)
		}
		unchanged(r.name + " on a read-only store")
	}
	// retry writes, so it is refused there; a lock or mode error, not a
	// crash.
	if out, code := readOnlyStore(t, dir, "deliveries", "retry", ids[0], "--store", store); code == 0 {
		t.Fatalf("retry on a read-only store succeeded:\n%s", out)
	}
	unchanged("retry on a read-only store")
}

// readOnlyStore runs scgate with args while dir cannot be written: as root
// (whom file modes do not stop) on a read-only bind mount of dir in a
// private mount namespace, otherwise with dir and its files made read-only.
func readOnlyStore(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	bin := gatewaytest.Binary(t)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		script := `mount --bind -o ro "$0" "$0" && exec "$@"`
		cmd = exec.Command("unshare", append([]string{"--mount", "sh", "-c", script, dir, bin}, args...)...)
	} else {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			os.Chmod(f, 0o400)
		}
		os.Chmod(dir, 0o500)
		defer func() {
			os.Chmod(dir, 0o700)
			for _, f := range files {
				os.Chmod(f, 0o600)
			}
		}()
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}
