package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// LatencyProxy is a test fixture, a fake network in front of a real
// backend: a TCP proxy that forwards bytes both ways and delays each chunk
// it reads by Delay before writing it on, keeping the order. The backend
// behind it is a real milvus-lite; only the network's latency is made up,
// which no real part can give on demand.
type LatencyProxy struct {
	// Addr is the proxy's loopback address (the endpoint to configure).
	Addr  string
	delay atomic.Int64
	lis   net.Listener
	// mu guards conns.
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// NewLatencyProxy forwards a free loopback address to backend, with no
// delay until SetDelay; it stops when the test ends.
func NewLatencyProxy(t testing.TB, backend string) *LatencyProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &LatencyProxy{Addr: lis.Addr().String(), lis: lis}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); p.pump(b, c) }()
			go func() { defer p.wg.Done(); p.pump(c, b) }()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// SetDelay sets the delay of every chunk read from now on.
func (p *LatencyProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

type chunk struct {
	b   []byte
	due time.Time
}

// pump copies src to dst: a reader stamps each chunk with its due time and
// a writer sends it then, so chunks keep their order and a delay does not
// cut throughput.
func (p *LatencyProxy) pump(dst, src net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(time.Duration(p.delay.Load()))}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	for range q {
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
}

// Close stops accepting and closes every connection.
func (p *LatencyProxy) Close() {
	p.lis.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
