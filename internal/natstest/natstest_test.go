package natstest

import "testing"

// A started server greets clients; a stopped one refuses them; a restarted
// one greets again on the same port.
func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if err := greets(s.Addr()); err != nil {
		t.Fatalf("started server: %v", err)
	}
	s.Stop()
	if err := greets(s.Addr()); err == nil {
		t.Fatal("a stopped server still greets")
	}
	s.Restart()
	if err := greets(s.Addr()); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}
