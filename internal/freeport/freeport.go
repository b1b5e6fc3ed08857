// Package freeport picks TCP ports for test servers outside the kernel's
// ephemeral range. A port the kernel handed out as free (listen on :0) is
// from that range, which every outgoing connection of every process on the
// machine also draws its local port from: between the pick and the bind,
// a connection to Redis or an upstream can take it ("address already in
// use"). Below the range only other tests' picks can collide, and they are
// spread at random.
package freeport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// low is the lowest port the picks use; they stay below the ephemeral range.
const low = 12000

// ephemeralStart is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				return n
			}
		}
	}
	return 32768
}

// Pick returns a port free on every interface a moment ago, below the
// ephemeral range. With span > 0, port+span is free too (and below the
// range). Another process may still take it before it is used.
func Pick(span int) (int, error) {
	high := ephemeralStart() - span
	if high <= low {
		return 0, errors.New("freeport: no room below the ephemeral range")
	}
	for range 200 {
		p := low + rand.IntN(high-low)
		if !free(p) || (span > 0 && !free(p+span)) {
			continue
		}
		return p, nil
	}
	return 0, errors.New("freeport: no free port found below the ephemeral range")
}

// free reports whether port can be listened on, on all interfaces (as a
// Caddy site ":port" listens) and on loopback.
func free(port int) bool {
	for _, addr := range []string{":" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port)} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
