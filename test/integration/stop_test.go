package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// stopBound is how long `milvus-edge run` may take to exit after SIGTERM or
// SIGINT: the filter server's bound (edge.filter_timeout 2 s, then 2 s for
// cut handlers) with room for Envoy's and milvus-lite's own exits.
const stopBound = 8 * time.Second

// TestStopUnderLoad runs the built binary (`milvus-edge run`, decision log
// on) under an 8-client authenticated load, stops it with SIGTERM or SIGINT,
// and checks that it exits cleanly within stopBound and logs no panic (no
// send on a closed channel, no call on a closed cache).
func TestStopUnderLoad(t *testing.T) {
	testenv.Setup(t)
	bin := os.Getenv("MILVUS_EDGE_BIN")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), "bin/milvus-edge")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			backend := testenv.MilvusLite(t)
			p := testenv.NewPorts(t)
			path := filepath.Join(t.TempDir(), "edge.yaml")
			testenv.WriteFile(t, path, p.ConfigHead()+"auth: {decision_log: stderr}\n"+oneCluster(backend))
			var out lockedBuffer
			proc, err := procs.Start(testenv.Logger(t), "milvus-edge", bin, []string{"run", "--config", path}, os.Environ(), procs.Output(&out))
			if err != nil {
				t.Fatalf("%s: %v (go build -o bin/milvus-edge ./cmd/milvus-edge)", bin, err)
			}
			t.Cleanup(func() { _ = proc.Stop(20 * time.Second) })
			testenv.Eventually(t, 60*time.Second, "the ready line", func() bool {
				return strings.Contains(out.String(), "milvus-edge ready on "+p.Listener)
			})
			load := testenv.StartLoad(t, p.Listener, 8)
			testenv.Eventually(t, 30*time.Second, "500 calls", func() bool { return load.OK() >= 500 })
			start := time.Now()
			must(t, syscall.Kill(proc.Pid(), sig))
			select {
			case <-proc.Done():
			case <-time.After(stopBound):
				t.Fatalf("milvus-edge did not exit within %v of %v", stopBound, sig)
			}
			took := time.Since(start)
			load.Stop()
			ok, fail, _ := load.Result()
			t.Logf("%v under load (%d calls passed, %d failed around the stop): exited in %v, %v", sig, ok, fail, took.Round(time.Millisecond), proc.Err())
			if err := proc.Err(); err != nil {
				t.Errorf("milvus-edge exited with %v", err)
			}
			if s := out.String(); strings.Contains(strings.ToLower(s), "panic") || strings.Contains(s, "closed channel") || strings.Contains(s, "DATA RACE") {
				t.Errorf("milvus-edge's output holds a panic:\n%s", tail(s, 4000))
			}
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
