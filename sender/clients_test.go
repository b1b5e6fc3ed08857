package sender

import (
	"testing"
	"time"
)

// The client cache shares a client between equal settings (allowlist
// order, duplicates and IPv4-mapped forms aside) and drops unused ones,
// idle by the sender's clock.
func TestClientCache(t *testing.T) {
	clock := newTestClock()
	cc := clientCache{now: clock.Now}
	a, relA, err := cc.get(NetOptions{Allow: []string{"10.0.0.0/8", "127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	b, relB, err := cc.get(NetOptions{Allow: []string{"127.0.0.1/8", "::ffff:10.0.0.0/104", "10.0.0.0/8"}, Timeout: DefaultTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("equal settings got different clients")
	}
	c, relC, err := cc.get(NetOptions{AllowPrivate: true})
	if err != nil || c == a {
		t.Fatalf("guard off got %v, %v", c == a, err)
	}
	if _, _, err := cc.get(NetOptions{Allow: []string{"nope"}}); err == nil {
		t.Error("an invalid allowlist made a client")
	}
	relA()
	relC()
	if n := cc.sweep(clock.Now().Add(-clientIdleAfter)); n != 2 {
		t.Errorf("%d clients left right after their use, want 2", n)
	}
	clock.Advance(clientIdleAfter + time.Second)
	if n := cc.sweep(clock.Now().Add(-clientIdleAfter)); n != 1 {
		t.Errorf("%d clients left with one in use, want 1", n)
	}
	relB()
	if n := cc.sweep(time.Time{}); n != 0 {
		t.Errorf("%d clients left, want 0", n)
	}
}
