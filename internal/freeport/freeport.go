// Package freeport picks loopback ports for tests and the benchmark.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
)

// Loopback returns 127.0.0.1 with a port that was free a moment ago, picked
// at random below the kernel's ephemeral range: a port from ":0" is an
// ephemeral one, which the kernel may hand to an outgoing connection (a
// client, an Envoy upstream) before the server that was meant to get it
// binds — a "port already in use" seen in CI.
func Loopback() (string, error) {
	lo, hi := 20000, 32767
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var first, last int
		if n, _ := fmt.Sscan(string(b), &first, &last); n == 2 && first > 1024 {
			hi = first - 1
			if lo >= hi {
				lo = 1025
			}
		}
	}
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+rand.IntN(hi-lo+1)))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// LoopbackPorts picks n distinct loopback ports (as "1234") that were free a
// moment ago, none of them in except.
func LoopbackPorts(n int, except ...string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range except {
		seen[p] = true
	}
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 10*n {
			return nil, errors.New("no free loopback ports")
		}
		addr, err := Loopback()
		if err != nil {
			return nil, err
		}
		_, p, _ := net.SplitHostPort(addr)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}
