package inbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// The environment of a child process: which part of a test it plays, and
// its inbox file, destination and events.
const (
	childEnv       = "SCGATE_INBOX_CHILD"
	childPathEnv   = "SCGATE_INBOX_PATH"
	childDestEnv   = "SCGATE_INBOX_DEST"
	childEventsEnv = "SCGATE_INBOX_EVENTS"
)

// crashEvent is the i-th event of the crash test: every other one has one
// of seven order keys, so that lines go through the crashes too.
func crashEvent(i int) Event {
	if i%2 == 0 {
		return event(i, fmt.Sprint("k", i%7))
	}
	return event(i, "")
}

// TestChildEnqueue is a child process of TestCrashLosesNothing: it runs an
// inbox whose destination is down and enqueues the events it is given
// from 16 goroutines, printing "ack <index> <id>" as each Enqueue returns
// (the event is on disk), then "done", then keeps retrying until killed.
func TestChildEnqueue(t *testing.T) {
	if os.Getenv(childEnv) != "enqueue" {
		t.Skip("a child process of TestCrashLosesNothing")
	}
	in, err := Open(os.Getenv(childPathEnv), Options{LockTimeout: 10 * time.Second, Settings: Settings{
		Destination: os.Getenv(childDestEnv), Attempts: 1 << 30, Backoff: []time.Duration{20 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // should the parent vanish
	defer cancel()
	go in.Run(ctx)
	var todo []int
	for _, f := range strings.Split(os.Getenv(childEventsEnv), ",") {
		if i, err := strconv.Atoi(f); err == nil {
			todo = append(todo, i)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for j := g; j < len(todo); j += 16 {
				id, err := in.Enqueue(crashEvent(todo[j]))
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %s\n", todo[j], id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Fprintln(os.Stdout, "done")
	<-ctx.Done()
}

// child is a running child process and the acks it printed.
type child struct {
	cmd  *exec.Cmd
	acks chan [2]string // index, id
	done chan struct{}  // closed when it printed "done"
	eof  chan struct{}  // closed when its output ended
	// refused is the line "refused <error>", if it printed one; read it
	// once eof is closed.
	refused string
}

// startChild runs TestChild<name> with env.
func startChild(t *testing.T, name string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild"+name+"$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), childEnv+"="+strings.ToLower(name)), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, acks: make(chan [2]string, 2000), done: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(c.eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "ack":
				c.acks <- [2]string{f[1], f[2]}
			case len(f) == 1 && f[0] == "done":
				close(c.done)
			case len(f) > 1 && f[0] == "refused":
				c.refused = sc.Text()
			}
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return c
}

// kill ends the child with SIGKILL and returns, once its output ended,
// every ack it printed that was not taken yet.
func (c *child) kill(t *testing.T) [][2]string {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	<-c.eof
	var rest [][2]string
	for {
		select {
		case a := <-c.acks:
			rest = append(rest, a)
		default:
			return rest
		}
	}
}

// Nothing acknowledged is lost: 1,000 events are enqueued from 16
// goroutines while the destination is down; the process is killed with
// SIGKILL in the middle of enqueuing, a second one enqueues the events
// the first did not acknowledge and is killed while it retries; then the
// destination starts and a third process delivers every acknowledged
// event, with its exact body and headers.
func TestCrashLosesNothing(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in a child process")
	}
	const total = 1000
	addr := downAddr(t)
	path := filepath.Join(t.TempDir(), "inbox.db")
	env := func(events []int) []string {
		s := make([]string, len(events))
		for i, e := range events {
			s[i] = strconv.Itoa(e)
		}
		return []string{childPathEnv + "=" + path, childDestEnv + "=http://" + addr, childEventsEnv + "=" + strings.Join(s, ",")}
	}
	acked := map[string]int{} // id -> event index
	ackedIndex := map[int]bool{}
	take := func(a [2]string) {
		i, _ := strconv.Atoi(a[0])
		acked[a[1]], ackedIndex[i] = i, true
	}
	all := make([]int, total)
	for i := range all {
		all[i] = i
	}

	first := startChild(t, "Enqueue", env(all)...)
	eventually.Succeeds(t, 2*time.Minute, func() error {
		for len(acked) < total*2/5 {
			select {
			case a := <-first.acks:
				take(a)
			case <-first.eof:
				return eventually.Stop(fmt.Errorf("the first process ended after %d acks", len(acked)))
			default:
				return fmt.Errorf("%d acks", len(acked))
			}
		}
		return nil
	})
	for _, a := range first.kill(t) {
		take(a)
	}
	atFirstKill := len(acked)

	var missing []int
	for i := range total {
		if !ackedIndex[i] {
			missing = append(missing, i)
		}
	}
	second := startChild(t, "Enqueue", env(missing)...)
	eventually.Succeeds(t, 2*time.Minute, func() error {
		select {
		case <-second.done:
			return nil
		case <-second.eof:
			return eventually.Stop(fmt.Errorf("the second process ended before it enqueued everything"))
		default:
			return fmt.Errorf("the second process is enqueuing")
		}
	})
	for _, a := range second.kill(t) {
		take(a)
	}
	if len(ackedIndex) != total {
		t.Fatalf("%d of %d events acknowledged", len(ackedIndex), total)
	}
	t.Logf("killed after %d acks, then after enqueuing the other %d; %d acknowledged in all", atFirstKill, len(missing), len(acked))

	ds := startDestinationAt(t, addr, nil)
	in, err := Open(path, Options{Settings: Settings{Destination: "http://" + addr, Backoff: fast.Backoff}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	run(t, in)
	eventually.Succeeds(t, 2*time.Minute, func() error {
		st, err := in.Stats()
		if err == nil && st.Entries[StatePending] > 0 {
			err = fmt.Errorf("%d entries pending", st.Entries[StatePending])
		}
		return err
	})
	interrupted := 0
	for id := range acked {
		if _, log, err := in.Get(id); err == nil {
			for _, a := range log {
				if a.Outcome == OutcomeInterrupted {
					interrupted++
				}
			}
		}
	}
	byID := map[string]received{}
	for _, r := range ds.delivered() {
		byID[r.Header.Get(HeaderDeliveryID)] = r
	}
	for id, i := range acked {
		r, ok := byID[id]
		if !ok {
			t.Errorf("event %d (%s) acknowledged, never delivered", i, id)
			continue
		}
		if err := checkForwarded(r, crashEvent(i), id); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	t.Logf("%d requests delivered for %d acknowledged events; %d attempts in flight at the kills were recovered", len(ds.delivered()), len(acked), interrupted)
}
