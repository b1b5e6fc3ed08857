package inbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// fullDiskLimit is the file size limit of TestChildFullDisk: the inbox
// file can grow to it and no further, as on a full disk.
const fullDiskLimit = 512 << 10

// bigEvent is an event of TestEnqueueOnAFullDisk: 64 KiB of body.
func bigEvent(i int) Event {
	ev := event(i, "")
	ev.Body = append(bytes.Repeat([]byte{' '}, 64<<10), ev.Body...)
	return ev
}

// TestChildFullDisk is the child process of TestEnqueueOnAFullDisk: under
// a file size limit, it enqueues large events until one is refused,
// printing "ack <index> <id>" for each one on disk and "refused" for the
// first refusal.
func TestChildFullDisk(t *testing.T) {
	if os.Getenv(childEnv) != "fulldisk" {
		t.Skip("a child process of TestEnqueueOnAFullDisk")
	}
	in, err := Open(os.Getenv(childPathEnv), Options{Settings: Settings{Destination: "http://127.0.0.1:9/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	// Past the limit a write fails with EFBIG (Go ignores SIGXFSZ).
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: fullDiskLimit, Max: fullDiskLimit}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 * fullDiskLimit / (64 << 10) {
		id, err := in.Enqueue(bigEvent(i))
		if err != nil {
			if id != "" {
				t.Errorf("a refused Enqueue returned the id %q", id)
			}
			fmt.Fprintf(os.Stdout, "refused %q\n", err)
			return
		}
		fmt.Fprintf(os.Stdout, "ack %d %s\n", i, id)
	}
	t.Error("every enqueue succeeded past the file size limit")
}

// A full disk is an error from Enqueue, never a silent loss: every event
// acknowledged before it is on disk, with its bytes.
func TestEnqueueOnAFullDisk(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	path := filepath.Join(t.TempDir(), "inbox.db")
	c := startChild(t, "FullDisk", childPathEnv+"="+path)
	eventually.Succeeds(t, time.Minute, func() error {
		select {
		case <-c.eof:
			return nil
		default:
			return fmt.Errorf("the child is enqueuing")
		}
	})
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	acked := map[string]int{}
	for len(c.acks) > 0 {
		a := <-c.acks
		acked[a[1]], _ = strconv.Atoi(a[0])
	}
	if c.refused == "" {
		t.Fatal("the child saw no refusal")
	}
	if len(acked) == 0 {
		t.Fatal("nothing was enqueued before the limit")
	}
	in, err := Open(path, Options{Settings: Settings{Destination: "http://127.0.0.1:9/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for id, i := range acked {
		e, _, err := in.Get(id)
		if err != nil || !bytes.Equal(e.Body, bigEvent(i).Body) {
			t.Errorf("acknowledged event %d (%s): %v", i, id, err)
		}
	}
	t.Logf("%d events acknowledged before the disk was full, then %s", len(acked), c.refused)
}
