package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// drainDelay is the latency the fake network (testenv.LatencyProxy) adds to
// each chunk either way: a call is in flight for at least twice that, so
// calls are in flight whenever the signal comes.
const drainDelay = 400 * time.Millisecond

// drainStopBound is the documented bound of a stop (docs/health.md):
// envoy.drain_timeout (5 s) + edge.filter_timeout (2 s) + 2 s for cut
// filter handlers, plus 3 s for Envoy's and the servers' exits.
const drainStopBound = 12 * time.Second

// stopCall is one client call of the drain test.
type stopCall struct {
	start, end time.Time
	err        error
}

// TestStopDrainsCallsInFlight runs the built binary (`milvus-edge run`)
// with its one endpoint, a real milvus-lite, behind testenv.LatencyProxy (a
// fake network adding drainDelay per chunk, so every call is in flight for
// ≥ 800 ms), keeps 8 clients calling, sends SIGTERM and checks that every
// call started before the signal succeeded (Envoy drains and the filter
// server, xDS and backends keep serving until Envoy has exited), that the
// process exited within drainStopBound, and that its output holds no panic.
// Calls started after the signal may fail (UNAVAILABLE: Envoy no longer
// accepts connections); they are counted apart.
func TestStopDrainsCallsInFlight(t *testing.T) {
	testenv.Setup(t)
	bin := os.Getenv("MILVUS_EDGE_BIN")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), "bin/milvus-edge")
	}
	backend := testenv.MilvusLite(t)
	slow := testenv.NewLatencyProxy(t, backend)
	p := testenv.NewPorts(t)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	testenv.WriteFile(t, path, p.ConfigHead()+fmt.Sprintf(`auth: {decision_log: stderr}
clusters:
  - name: default
    endpoints: [{address: %s}]
    health: {kind: none}
routes:
  - cluster: default
`, slow.Addr))
	var out lockedBuffer
	proc, err := procs.Start(testenv.Logger(t), "milvus-edge", bin, []string{"run", "--config", path}, os.Environ(), procs.Output(&out))
	if err != nil {
		t.Fatalf("%s: %v (go build -o bin/milvus-edge ./cmd/milvus-edge)", bin, err)
	}
	t.Cleanup(func() { _ = proc.Stop(20 * time.Second) })
	testenv.Eventually(t, 60*time.Second, "the ready line", func() bool {
		return strings.Contains(out.String(), "milvus-edge ready on "+p.Listener)
	})
	slow.SetDelay(drainDelay)

	c := testenv.Client(t, p.Listener)
	var (
		mu    sync.Mutex
		calls []stopCall
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	var once sync.Once
	endLoad := func() { once.Do(func() { close(stop) }); wg.Wait() }
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 15*time.Second)
				start := time.Now()
				_, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{})
				cancel()
				mu.Lock()
				calls = append(calls, stopCall{start, time.Now(), err})
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // no hot loop once the edge is gone
				}
			}
		}()
	}
	defer endLoad()
	testenv.Eventually(t, 60*time.Second, "40 slow calls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		ok := 0
		for _, x := range calls {
			if x.err == nil && x.end.Sub(x.start) >= 2*drainDelay {
				ok++
			}
		}
		return ok >= 40
	})

	signaled := time.Now()
	must(t, syscall.Kill(proc.Pid(), syscall.SIGTERM))
	select {
	case <-proc.Done():
	case <-time.After(drainStopBound):
		t.Fatalf("milvus-edge did not exit within %v of SIGTERM\n%s", drainStopBound, tail(out.String(), 4000))
	}
	took := time.Since(signaled)
	// Calls started after the signal end soon (refused, or cut by the exit).
	endLoad()

	var before, beforeFailed, inFlight, after, afterFailed int
	var lasted []time.Duration
	byCode := map[codes.Code]int{}
	var firstErr error
	for _, x := range calls {
		if x.start.Before(signaled) {
			before++
			if x.end.After(signaled) {
				inFlight++
				lasted = append(lasted, x.end.Sub(signaled))
			}
			if x.err != nil {
				beforeFailed++
				if firstErr == nil {
					firstErr = x.err
				}
			}
			continue
		}
		after++
		if x.err != nil {
			afterFailed++
			byCode[status.Code(x.err)]++
		}
	}
	sort.Slice(lasted, func(i, j int) bool { return lasted[i] < lasted[j] })
	var lastEnd time.Duration
	if len(lasted) > 0 {
		lastEnd = lasted[len(lasted)-1]
	}
	drained := regexp.MustCompile(`envoy drained.*`).FindString(out.String())
	t.Logf("SIGTERM under load (%v per chunk each way): exited in %v (bound %v); calls started before: %d, %d in flight at the signal (the last ended %v after it), %d failed; started after: %d, %d failed %v; edge log: %q",
		drainDelay, took.Round(time.Millisecond), drainStopBound, before, inFlight, lastEnd.Round(time.Millisecond), beforeFailed, after, afterFailed, byCode, drained)
	if inFlight == 0 {
		t.Errorf("no call was in flight at the signal: the test proves nothing")
	}
	if beforeFailed > 0 {
		t.Errorf("%d of %d calls started before SIGTERM failed; first: %v", beforeFailed, before, firstErr)
	}
	for code := range byCode {
		if code != codes.Unavailable {
			t.Errorf("calls started after SIGTERM failed with %v (want only UNAVAILABLE): %v", code, byCode)
		}
	}
	if drained == "" {
		t.Errorf("no \"envoy drained\" line in the edge's output")
	}
	if err := proc.Err(); err != nil {
		t.Errorf("milvus-edge exited with %v", err)
	}
	if s := out.String(); strings.Contains(strings.ToLower(s), "panic") || strings.Contains(s, "closed channel") || strings.Contains(s, "DATA RACE") {
		t.Errorf("milvus-edge's output holds a panic:\n%s", tail(s, 4000))
	}
}
