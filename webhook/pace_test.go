package webhook

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// pipeBody returns the reading end of a connection whose other end send
// writes to, with the reader's deadline settable, as a server's body is.
func pipeBody(t *testing.T, send func(net.Conn)) net.Conn {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	go func() {
		send(client)
		client.Close()
	}()
	return server
}

// A body that trickles slower than the minimum rate is cut off with
// ErrTooSlow long before its end (here a minute away).
func TestPaceCutsOffATrickle(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	body := pipeBody(t, func(c net.Conn) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	})
	start := time.Now()
	p := Pace{Start: start, Grace: 100 * time.Millisecond, MinRate: 1 << 10, End: start.Add(time.Minute), SetReadDeadline: body.SetReadDeadline}
	r := p.Reader(body)
	defer r.Done()
	_, err := ReadBody(r, 1000, 1000, nil)
	if !errors.Is(err, ErrTooSlow) {
		t.Fatalf("a body of 20 bytes per second against a minimum of 1 KiB per second: %v, want ErrTooSlow", err)
	}
}

// A body that stalls without a minimum rate is cut off at End with the
// deadline's own error, not ErrTooSlow.
func TestPaceEndIsTheDeadline(t *testing.T) {
	body := pipeBody(t, func(c net.Conn) {
		c.Write([]byte("{"))
		time.Sleep(time.Second)
	})
	start := time.Now()
	p := Pace{Start: start, End: start.Add(100 * time.Millisecond), SetReadDeadline: body.SetReadDeadline}
	r := p.Reader(body)
	defer r.Done()
	_, err := ReadBody(r, 100, 100, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrTooSlow) {
		t.Fatalf("a stalled body at End: %v, want the deadline's error", err)
	}
}

// A body sent at once is read whole under the pace, and Done lifts the
// deadline it set.
func TestPaceLetsAFastBodyThrough(t *testing.T) {
	want := bytes.Repeat([]byte("x"), 64<<10)
	body := pipeBody(t, func(c net.Conn) { c.Write(want) })
	start := time.Now()
	var deadlines []time.Time
	set := func(d time.Time) error {
		deadlines = append(deadlines, d)
		return body.SetReadDeadline(d)
	}
	p := Pace{Start: start, Grace: time.Second, MinRate: 1 << 10, End: start.Add(10 * time.Second), SetReadDeadline: set}
	r := p.Reader(body)
	got, err := ReadBody(r, int64(len(want)), 1<<20, nil)
	r.Done()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if len(deadlines) < 2 || !deadlines[len(deadlines)-1].IsZero() {
		t.Fatalf("deadlines set %v: want some, then the zero time", deadlines)
	}
}
