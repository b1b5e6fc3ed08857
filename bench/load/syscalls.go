package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scgate/scgate/internal/eventually"
)

// With -strace, every configuration gets one extra run before the pairs,
// with `strace -c -f` attached to its gateway for the timed window only (it
// attaches after the warm-up, when no request is in flight, and detaches
// after the window). strace slows the gateway several times over, so these
// runs count system calls, not time: they are not in the medians.

// syscallCount is one system call's count in a traced run.
type syscallCount struct {
	name           string
	calls, errored int64
}

// syscallRun is the system calls of one traced run.
type syscallRun struct {
	kind     configKind
	requests int64
	counts   []syscallCount // most calls first
}

// straceAttach is strace -c attached to one process.
type straceAttach struct {
	cmd  *exec.Cmd
	out  string
	done chan error
}

// startStrace attaches strace -c -f to pid, writing its summary to out, and
// returns once strace traces every thread of pid.
func startStrace(pid int, out string) (*straceAttach, error) {
	cmd := exec.Command("strace", "-c", "-f", "-q", "-o", out, "-p", strconv.Itoa(pid))
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting strace (install it, or run without -strace): %w", err)
	}
	s := &straceAttach{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	err := eventually.Within(startTimeout, func() error {
		select {
		case err := <-s.done:
			s.done <- err
			return eventually.Stop(fmt.Errorf("strace exited: %v", err))
		default:
		}
		return tracedBy(pid, cmd.Process.Pid)
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// tracedBy says whether every thread of pid is traced by tracer.
func tracedBy(pid, tracer int) error {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("no threads of %d: %v", pid, err)
	}
	want := "TracerPid:\t" + strconv.Itoa(tracer) + "\n"
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("%s not traced yet", t)
		}
	}
	return nil
}

// stop detaches strace (SIGINT: it writes its summary and exits).
func (s *straceAttach) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// counts stops strace and reads its summary.
func (s *straceAttach) counts() ([]syscallCount, error) {
	s.stop()
	b, err := os.ReadFile(s.out)
	if err != nil {
		return nil, err
	}
	return parseStraceSummary(string(b))
}

// parseStraceSummary reads the table of strace -c: "% time, seconds,
// usecs/call, calls, errors (may be empty), syscall", most calls first.
func parseStraceSummary(s string) ([]syscallCount, error) {
	var cs []syscallCount
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || len(f) > 6 || f[len(f)-1] == "total" {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue // the header or a rule
		}
		c := syscallCount{name: f[len(f)-1]}
		var err error
		if c.calls, err = strconv.ParseInt(f[3], 10, 64); err != nil {
			return nil, fmt.Errorf("strace summary line %q: %w", sc.Text(), err)
		}
		if len(f) == 6 {
			if c.errored, err = strconv.ParseInt(f[4], 10, 64); err != nil {
				return nil, fmt.Errorf("strace summary line %q: %w", sc.Text(), err)
			}
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil, errors.New("no system calls in strace's summary")
	}
	slices.SortStableFunc(cs, func(a, b syscallCount) int { return int(b.calls - a.calls) })
	return cs, nil
}

// syscallsMarkdown is the table of system calls per request of the traced
// runs: the calls of the union of each run's most frequent ones.
func syscallsMarkdown(runs []syscallRun) string {
	if len(runs) == 0 {
		return ""
	}
	var names []string
	for _, r := range runs {
		for i, c := range r.counts {
			if i < 8 && !slices.Contains(names, c.name) {
				names = append(names, c.name)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### System calls per request (`strace -c -f`, timed window of one extra run each)\n\n")
	b.WriteString("| Configuration | Requests | all |")
	for _, n := range names {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n|---|--:|--:|" + strings.Repeat("--:|", len(names)) + "\n")
	for _, r := range runs {
		all := sumCalls(r.counts)
		per := func(n int64) float64 { return float64(n) / float64(max(r.requests, 1)) }
		fmt.Fprintf(&b, "| %s | %d | %.2f |", r.kind, r.requests, per(all))
		for _, n := range names {
			i := slices.IndexFunc(r.counts, func(c syscallCount) bool { return c.name == n })
			switch {
			case i < 0:
				b.WriteString(" 0 |")
			case r.counts[i].errored > 0:
				fmt.Fprintf(&b, " %.2f (%.2f failed) |", per(r.counts[i].calls), per(r.counts[i].errored))
			default:
				fmt.Fprintf(&b, " %.2f |", per(r.counts[i].calls))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nCalls per request of every thread of the gateway process; \"failed\" are the calls that returned an error (a read with nothing to read: EAGAIN). strace slows the gateway: these runs count calls, their time is not in the medians.\n")
	return b.String()
}

func sumCalls(cs []syscallCount) int64 {
	var n int64
	for _, c := range cs {
		n += c.calls
	}
	return n
}
