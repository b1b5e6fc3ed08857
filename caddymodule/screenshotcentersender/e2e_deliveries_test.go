package screenshotcentersender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
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
		{"show", []string{"deliveries", "show", ids[0], "--store", store}, "pending (0 attempts made)"},
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

// `scgate deliveries show` is for people (local time, durations such as
// 1m30s, the start of the response) and --json for scripts; `retry
// --state failed [--since D]` re-queues in bulk. Through the built binary
// on a stopped gateway's store.
func TestDeliveriesShowAndBulkRetry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "90")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "busy\x07")
	}))
	defer srv.Close()
	store := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := sender.OpenOutbox(store, sender.OutboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	budgets := []int{3, 1, 1} // one stays pending, two fail
	var ids []string
	for _, n := range budgets {
		d, err := sender.NewDelivery(srv.URL+"/hook", "screenshot.finished", []byte(lifecycleBody), []byte(secret1), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d.MaxAttempts = n
		if err := ob.Enqueue(d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	c, err := sender.NewClient(sender.ClientOptions{Allow: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sender.New(ob, sender.Options{Client: c, Schedule: sender.Schedule{Backoff: []time.Duration{time.Second}, NoJitter: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	eventually.Succeeds(t, waitTimeout, func() error {
		for _, id := range ids {
			if d, _, err := ob.Get(id); err != nil || d.Attempts == 0 || d.LastStatus == 0 {
				return fmt.Errorf("delivery %s not attempted yet (%v)", id, err)
			}
		}
		return nil
	})
	cancel()
	<-ran
	ob.Close()

	tokyo := []string{"TZ=Asia/Tokyo"}
	out, code := scgate(t, tokyo, "deliveries", "show", ids[0], "--store", store)
	for _, want := range []string{
		"delivery      " + ids[0],
		"pending (1 of 3 attempts made)",
		"JST",
		"attempt 1/3: 503 in ",
		"retry, next in 1m30s (Retry-After 1m30s)",
		`response: "busy\a"`,
		"store         " + store,
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show (%d) lacks %q:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "UTC") || strings.Contains(out, "1m30.") {
		t.Errorf("show uses UTC or raw durations:\n%s", out)
	}
	out, code = scgate(t, tokyo, "deliveries", "show", ids[0], "--json", "--store", store)
	var view struct {
		State string           `json:"state"`
		Log   []sender.Attempt `json:"attempts_log"`
	}
	if err := json.Unmarshal([]byte(out), &view); code != 0 || err != nil || view.State != "pending" ||
		len(view.Log) != 1 || view.Log[0].NextWait != 90*time.Second || view.Log[0].Kind != sender.Kind5xx {
		t.Fatalf("show --json (%d, %v): %+v\n%s", code, err, view, out)
	}

	retry := func(args ...string) (string, int) {
		return scgate(t, nil, append([]string{"deliveries", "retry", "--store", store}, args...)...)
	}
	bad := [][]string{{}, {ids[1], "--state", "failed"}, {"--state", "pending"}, {"--state", "failed", "--since", "soon"}}
	for _, args := range bad {
		if out, code := retry(args...); code != 1 || !strings.HasPrefix(out, "scgate deliveries retry: ") || strings.Count(out, "\n") != 1 {
			t.Errorf("retry %v (%d): want one error sentence:\n%s", args, code, out)
		}
	}
	if out, code := retry("--state", "failed", "--since", "1ns"); code != 0 || !strings.Contains(out, "0 failed deliveries that became failed within") {
		t.Fatalf("retry --since 1ns (%d):\n%s", code, out)
	}
	out, code = retry("--state", "failed", "--since", "1d")
	if code != 0 || !strings.Contains(out, ids[1]+" re-queued") || !strings.Contains(out, ids[2]+" re-queued") ||
		!strings.Contains(out, "2 failed deliveries that became failed within 24h re-queued") {
		t.Fatalf("retry --state failed (%d):\n%s", code, out)
	}
	out, code = scgate(t, nil, "deliveries", "list", "--state", "pending", "--json", "--store", store)
	var list struct {
		Stores []struct {
			Deliveries []sender.Delivery `json:"deliveries"`
		} `json:"stores"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Stores) != 1 || len(list.Stores[0].Deliveries) != 3 {
		t.Fatalf("list --json after the bulk retry (%d, %v):\n%s", code, err, out)
	}
}
