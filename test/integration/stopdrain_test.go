package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestStopDrainsCallsInFlight runs the built binary (`milvus-edge run`)
// with its one endpoint, a real milvus-lite it launches, behind
// testenv.LatencyProxy (a fake network adding drainDelay per chunk, so every
// call is in flight for ≥ 800 ms), keeps 8 clients calling, sends SIGTERM
// and checks that every call started before the signal succeeded (Envoy
// drains, and the filter server, xDS and the launched backend keep serving
// until Envoy has exited), that the process exited within drainStopBound,
// and that its output holds no panic. Calls started after the signal may
// fail (UNAVAILABLE: Envoy no longer accepts connections); they are
// counted apart.
func TestStopDrainsCallsInFlight(t *testing.T) {
	testenv.Setup(t)
	// The edge launches the milvus-lite (launch.milvus_lite), so the test
	// also checks that backends outlive Envoy's drain.
	backend := testenv.FreeAddr(t)
	slow := testenv.NewLatencyProxy(t, backend)
	p := testenv.NewPorts(t)
	proc, out := startEdgeBinary(t, p, p.ConfigHead()+fmt.Sprintf(`auth: {decision_log: stderr}
launch:
  milvus_lite: [{address: %s, data_dir: %s}]
clusters:
  - name: default
    endpoints: [{address: %s}]
    health: {kind: none}
routes:
  - cluster: default
`, backend, t.TempDir(), slow.Addr))
	slow.SetDelay(drainDelay)
	load := startTimedLoad(t, p.Listener, 8)
	from := load.warm(t, 24, 2*drainDelay)
	f := stopUnderLoad(t, proc, out, load, from, syscall.SIGTERM, drainStopBound)
	t.Logf("SIGTERM under load (%v per chunk each way): %s", drainDelay, f)
	if f.inFlight == 0 {
		t.Errorf("no call was in flight at the signal: the test proves nothing")
	}
}

// TestListenerReloadUnderLoad checks Envoy's immediate drain strategy
// (set for the stop's drain) on reloads that replace the listener
// (listener.access_log on, off, on, off): every client connection is told to
// go away at once and moves to the new listener, and under an 8-client load
// whose calls are in flight ≥ 200 ms (testenv.LatencyProxy, a fake network
// in front of a real milvus-lite) no call fails.
func TestListenerReloadUnderLoad(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	slow := testenv.NewLatencyProxy(t, backend)
	p := testenv.NewPorts(t)
	cfg := func(accessLog string) string {
		head := strings.Replace(p.ConfigHead(), "listener: {address: "+p.Listener+"}",
			fmt.Sprintf("listener: {address: %s, access_log: %q}", p.Listener, accessLog), 1)
		return head + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
    health: {kind: none}
routes:
  - cluster: default
`, slow.Addr)
	}
	e := testenv.Run(t, cfg(""), p)
	slow.SetDelay(100 * time.Millisecond)
	load := startTimedLoad(t, p.Listener, 8)
	testenv.Eventually(t, 30*time.Second, "40 calls", func() bool { return load.count(0) >= 40 })
	drains0 := testenv.Counter(t, p.EnvoyAdmin, "http.milvus.downstream_cx_drain_close")
	modified0 := testenv.Counter(t, p.EnvoyAdmin, "listener_manager.listener_modified")
	logs := []string{filepath.Join(t.TempDir(), "access.log"), ""}
	for i := 0; i < 4; i++ {
		e.WriteConfig(t, cfg(logs[i%2]))
		testenv.Eventually(t, 10*time.Second, "the listener replaced", func() bool {
			return testenv.Counter(t, p.EnvoyAdmin, "listener_manager.listener_modified") > modified0+i
		})
		n := load.count(0)
		testenv.Eventually(t, 10*time.Second, "calls after the reload", func() bool { return load.count(0) >= n+20 })
	}
	drains := testenv.Counter(t, p.EnvoyAdmin, "http.milvus.downstream_cx_drain_close") - drains0
	load.end()
	failed := 0
	var firstErr error
	for _, x := range load.Calls() {
		if x.Err != nil {
			failed++
			if firstErr == nil {
				firstErr = x.Err
			}
		}
	}
	t.Logf("4 listener reloads under load: %d connections drained; %d calls, %d failed", drains, load.Count(), failed)
	if failed > 0 {
		t.Errorf("%d of %d calls failed across listener reloads; first: %v", failed, load.Count(), firstErr)
	}
	// One client connection, replaced at each reload: the gradual strategy
	// drained 1 in 4 reloads in a run.
	if drains < 4 {
		t.Errorf("%d connections drained by 4 reloads, want every connection at each (≥ 4): not the immediate strategy", drains)
	}
}

// TestStopDrainBound checks that envoy.drain_timeout bounds the drain:
// with drain_timeout 1s and calls held in flight ≥ 2 s by the fake network
// (testenv.LatencyProxy, 1 s per chunk, a real milvus-lite behind it), a
// SIGTERM stops Envoy 1 s after the signal (the calls still in flight are
// cut, and the edge says so), and the edge exits within that second plus
// the filter server's bound (2 s + 2 s) and 1 s for the exits.
func TestStopDrainBound(t *testing.T) {
	const delay, drain = time.Second, time.Second
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	slow := testenv.NewLatencyProxy(t, backend)
	p := testenv.NewPorts(t)
	head := strings.Replace(p.ConfigHead(), "envoy: {", fmt.Sprintf("envoy: {drain_timeout: %s, ", drain), 1)
	proc, out := startEdgeBinary(t, p, head+fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
    health: {kind: none}
routes:
  - cluster: default
`, slow.Addr))
	slow.SetDelay(delay)
	load := startTimedLoad(t, p.Listener, 4)
	testenv.Eventually(t, 60*time.Second, "4 slow calls", func() bool { return load.count(2*delay) >= 4 })
	signaled := time.Now()
	must(t, syscall.Kill(proc.Pid(), syscall.SIGTERM))
	bound := drain + 4*time.Second + time.Second
	select {
	case <-proc.Done():
	case <-time.After(bound):
		t.Fatalf("milvus-edge did not exit within %v of SIGTERM (drain_timeout %v)\n%s", bound, drain, tail(out.String(), 4000))
	}
	took := time.Since(signaled)
	load.end()
	cut := 0
	for _, x := range load.Calls() {
		if x.Start.Before(signaled) && x.End.After(signaled) && x.Err != nil {
			cut++
		}
	}
	warned := strings.Contains(out.String(), "requests still in flight at envoy.drain_timeout")
	t.Logf("drain_timeout %v, calls of ≥ %v: exited in %v (bound %v), %d calls in flight at the signal cut, warning logged: %v",
		drain, 2*delay, took.Round(time.Millisecond), bound, cut, warned)
	if took < drain {
		t.Errorf("exited %v after the signal: the drain did not wait for the calls in flight", took)
	}
	if !warned || cut == 0 {
		t.Errorf("calls outlasting drain_timeout: want them cut (got %d) and a warning (got %v)", cut, warned)
	}
	if err := proc.Err(); err != nil {
		t.Errorf("milvus-edge exited with %v", err)
	}
	if s := out.String(); strings.Contains(strings.ToLower(s), "panic") || strings.Contains(s, "closed channel") {
		t.Errorf("milvus-edge's output holds a panic:\n%s", tail(s, 4000))
	}
}

// startEdgeBinary runs the built binary (`milvus-edge run`) on the config
// yaml (for the ports p) and waits for its ready line.
func startEdgeBinary(t *testing.T, p testenv.Ports, yaml string) (*procs.Proc, *lockedBuffer) {
	t.Helper()
	bin := os.Getenv("MILVUS_EDGE_BIN")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), "bin/milvus-edge")
	}
	path := filepath.Join(t.TempDir(), "edge.yaml")
	testenv.WriteFile(t, path, yaml)
	out := &lockedBuffer{}
	proc, err := procs.Start(testenv.Logger(t), "milvus-edge", bin, []string{"run", "--config", path}, os.Environ(), procs.Output(out))
	if err != nil {
		t.Fatalf("%s: %v (go build -o bin/milvus-edge ./cmd/milvus-edge)", bin, err)
	}
	t.Cleanup(func() { _ = proc.Stop(20 * time.Second) })
	testenv.Eventually(t, 60*time.Second, "the ready line", func() bool {
		return strings.Contains(out.String(), "milvus-edge ready on "+p.Listener)
	})
	return proc, out
}

// timedLoad runs authenticated GetVersion calls from n workers
// (testenv.StartLoadOf) and keeps each call's start, end and outcome, so
// that calls started before a signal can be told from those started after
// it.
type timedLoad struct{ *testenv.Load }

func startTimedLoad(t *testing.T, addr string, workers int) *timedLoad {
	return &timedLoad{testenv.StartLoadOf(t, addr, testenv.LoadSpec{
		Workers:  workers,
		Timeout:  15 * time.Second,
		Pause:    5 * time.Millisecond,
		ErrPause: 50 * time.Millisecond, // no hot loop once the edge is gone
	})}
}

// count returns the calls so far that succeeded and lasted at least d.
func (l *timedLoad) count(d time.Duration) int { return l.countSince(time.Time{}, d) }

// countSince is count over the calls started at or after from.
func (l *timedLoad) countSince(from time.Time, d time.Duration) int {
	n := 0
	for _, x := range l.Calls() {
		if x.Err == nil && x.End.Sub(x.Start) >= d && !x.Start.Before(from) {
			n++
		}
	}
	return n
}

// warm waits until n calls lasting at least d succeeded, then until n more
// started after that did, and returns when the second lot began: the first
// calls (connections opening, credentials checked for the first time, slow
// under -race) are left out of a stop's figures.
func (l *timedLoad) warm(t *testing.T, n int, d time.Duration) time.Time {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, fmt.Sprintf("%d calls of ≥ %v", n, d), func() bool { return l.count(d) >= n })
	from := time.Now()
	testenv.Eventually(t, 60*time.Second, fmt.Sprintf("%d more calls of ≥ %v", n, d), func() bool { return l.countSince(from, d) >= n })
	return from
}

// end stops the workers and waits for their last calls.
func (l *timedLoad) end() { l.Stop() }

// stopFigures are a stop's outcome as the clients saw it (the calls
// started from the load's warm-up on).
type stopFigures struct {
	took                 time.Duration
	warmup, warmupFailed int
	before, beforeFailed int
	inFlight             int
	lastEnd              time.Duration
	after, afterFailed   int
	afterCodes           map[codes.Code]int
	drained              string
}

func (f stopFigures) String() string {
	return fmt.Sprintf("exited in %v; warm-up calls left out: %d (%d failed); calls started before the signal: %d, %d of them in flight at it (the last ended %v after it), %d failed; started after: %d, %d failed %v; edge log: %q",
		f.took.Round(time.Millisecond), f.warmup, f.warmupFailed, f.before, f.inFlight, f.lastEnd.Round(time.Millisecond), f.beforeFailed, f.after, f.afterFailed, f.afterCodes, f.drained)
}

var drainedLine = regexp.MustCompile(`envoy drained.*?requests_in_flight_at_stop=\d+ took=[0-9.a-zµ]+`)

// stopUnderLoad signals the edge, waits up to bound for its exit, ends the
// load and checks the stop: no call started before the signal (from the
// load's warm-up on, see timedLoad.warm) failed, calls started after it
// failed only with UNAVAILABLE, the edge exited cleanly after draining
// Envoy, and its output holds no panic.
func stopUnderLoad(t *testing.T, proc *procs.Proc, out *lockedBuffer, load *timedLoad, from time.Time, sig syscall.Signal, bound time.Duration) stopFigures {
	t.Helper()
	signaled := time.Now()
	must(t, syscall.Kill(proc.Pid(), sig))
	select {
	case <-proc.Done():
	case <-time.After(bound):
		t.Fatalf("milvus-edge did not exit within %v of %v\n%s", bound, sig, tail(out.String(), 4000))
	}
	f := stopFigures{took: time.Since(signaled), afterCodes: map[codes.Code]int{}}
	// Calls started after the signal end soon: refused, or cut by the exit.
	load.end()
	var failures []string
	for _, x := range load.Calls() {
		if x.Start.Before(from) {
			f.warmup++
			if x.Err != nil {
				f.warmupFailed++
			}
			continue
		}
		if !x.Start.Before(signaled) {
			f.after++
			if x.Err != nil {
				f.afterFailed++
				f.afterCodes[status.Code(x.Err)]++
			}
			continue
		}
		f.before++
		if x.End.After(signaled) {
			f.inFlight++
			f.lastEnd = max(f.lastEnd, x.End.Sub(signaled))
		}
		if x.Err != nil {
			f.beforeFailed++
			if len(failures) < 10 {
				failures = append(failures, fmt.Sprintf("started %v, ended %v from the signal: %v",
					x.Start.Sub(signaled).Round(time.Millisecond), x.End.Sub(signaled).Round(time.Millisecond), x.Err))
			}
		}
	}
	f.drained = drainedLine.FindString(out.String())
	if f.beforeFailed > 0 {
		t.Errorf("%d of %d calls started before %v failed:\n%s", f.beforeFailed, f.before, sig, strings.Join(failures, "\n"))
	}
	for code := range f.afterCodes {
		if code != codes.Unavailable {
			t.Errorf("calls started after %v failed with %v (want only UNAVAILABLE): %v", sig, code, f.afterCodes)
		}
	}
	if f.drained == "" {
		t.Errorf("no \"envoy drained\" line in the edge's output")
	}
	if err := proc.Err(); err != nil {
		t.Errorf("milvus-edge exited with %v", err)
	}
	if s := out.String(); strings.Contains(strings.ToLower(s), "panic") || strings.Contains(s, "closed channel") || strings.Contains(s, "DATA RACE") {
		t.Errorf("milvus-edge's output holds a panic:\n%s", tail(s, 4000))
	}
	return f
}
