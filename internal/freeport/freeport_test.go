package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestPick(t *testing.T) {
	start := ephemeralStart()
	for range 20 {
		p, err := Pick(10000)
		if err != nil {
			t.Fatal(err)
		}
		if p < low || p+10000 >= start {
			t.Fatalf("picked %d (span 10000), want within [%d, %d)", p, low, start-10000)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("picked port %d is not free: %v", p, err)
		}
		l.Close()
	}
}
