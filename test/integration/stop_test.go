package integration

import (
	"bytes"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// stopBound is how long `milvus-edge run` may take to exit after SIGTERM or
// SIGINT when its calls are quick: Envoy drains them in milliseconds, then
// the filter server's bound (edge.filter_timeout 2 s, then 2 s for cut
// handlers) with room for Envoy's and milvus-lite's own exits.
const stopBound = 8 * time.Second

// TestStopUnderLoad runs the built binary (`milvus-edge run`, decision log
// on) under an 8-client authenticated load, stops it with SIGTERM or SIGINT,
// and checks that it exits cleanly within stopBound, that no call started
// before the signal failed (Envoy drains first), and that it logs no panic
// (no send on a closed channel, no call on a closed cache).
func TestStopUnderLoad(t *testing.T) {
	testenv.Setup(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			backend := testenv.MilvusLite(t)
			p := testenv.NewPorts(t)
			proc, out := startEdgeBinary(t, p, p.ConfigHead()+"auth: {decision_log: stderr}\n"+oneCluster(backend))
			load := startTimedLoad(t, p.Listener, 8)
			from := load.warm(t, 250, 0)
			f := stopUnderLoad(t, proc, out, load, from, sig, stopBound)
			t.Logf("%v under load: %s", sig, f)
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's relay and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
