// Package freeport picks loopback ports for tests and the benchmark.
package freeport

import (
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
