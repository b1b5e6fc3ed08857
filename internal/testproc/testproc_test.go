package testproc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A process that exits before it is ready fails Start with its output; one
// that is ready is returned and killed by its Slot, twice safely.
func TestStartAndKill(t *testing.T) {
	_, err := Start("/bin/sh", []string{"-c", "echo going away; exit 3"}, 5*time.Second, func() error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "going away") {
		t.Fatalf("Start of an exiting process: %v", err)
	}
	p, err := Start("/bin/sleep", []string{"60"}, 5*time.Second, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	var s Slot
	s.Set(p)
	s.Kill("127.0.0.1:1", time.Second)
	select {
	case <-p.exited:
	default:
		t.Fatal("the process still runs after Kill")
	}
	if s.Get() != nil {
		t.Fatal("a killed process is still current")
	}
	s.Kill("127.0.0.1:1", time.Second)
}
