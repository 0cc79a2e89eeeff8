package integration

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// The failover and retry tests (docs/failover.md) run real milvus-lite
// servers as cluster endpoints. Each milvus-lite holds its own data, so a
// collection is created on each directly, and rows inserted directly mark
// which cluster answered a read: id 1 on the primary's endpoints, id 2 on
// the fallback's.

const foDim = 8

// foBackend creates collection "fo" on a backend (directly, not through the
// edge) with the one row id.
func foBackend(t *testing.T, addr string, id int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 30*time.Second)
	defer cancel()
	c := testenv.Client(t, addr)
	createVectorCollection(ctx, t, c, "fo", foDim)
	req := insertRequest("fo", 1, foDim)
	req.FieldsData[0].GetScalars().GetLongData().Data[0] = id
	if r, err := c.Insert(ctx, req); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("insert on %s: %v %v", addr, r.GetStatus(), err)
	}
}

// foIDs queries every id of "fo" through c.
func foIDs(ctx context.Context, c milvuspb.MilvusServiceClient) ([]int64, error) {
	r, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: "fo", Expr: "id > 0", OutputFields: []string{"id"}})
	if err != nil {
		return nil, err
	}
	if r.GetStatus().GetCode() != 0 {
		return nil, fmt.Errorf("query: %v", r.GetStatus())
	}
	for _, f := range r.GetFieldsData() {
		if f.GetFieldName() == "id" {
			return f.GetScalars().GetLongData().GetData(), nil
		}
	}
	return nil, nil
}

// readLoop runs Query calls on "fo" through the edge from workers
// goroutines (testenv.StartLoadOf) and records when each call ended, how,
// and which row it saw.
type readLoop struct{ *testenv.Load }

type readCall struct {
	end time.Time
	err error
	ids []int64
}

func startReadLoop(t *testing.T, addr string, workers int) *readLoop {
	return &readLoop{testenv.StartLoadOf(t, addr, testenv.LoadSpec{
		Workers: workers,
		Timeout: 10 * time.Second,
		Pause:   5 * time.Millisecond,
		Call: func(ctx context.Context, c milvuspb.MilvusServiceClient) (any, error) {
			return foIDs(ctx, c)
		},
	})}
}

func (l *readLoop) snapshot() []readCall {
	calls := l.Calls()
	out := make([]readCall, len(calls))
	for i, c := range calls {
		ids, _ := c.Out.([]int64)
		out[i] = readCall{end: c.End, err: c.Err, ids: ids}
	}
	return out
}

// servedBy says a call saw exactly the row id.
func (c readCall) servedBy(id int64) bool {
	return c.err == nil && len(c.ids) == 1 && c.ids[0] == id
}

// TestFailoverReadsToFallback: a route with a primary cluster of two
// milvus-lite endpoints and a fallback of one. Under a 4-worker read loop,
// every primary endpoint is killed (SIGKILL): reads succeed from the
// fallback within 5 s and none fails after that; writes stay on the primary
// and fail with UNAVAILABLE, and the fallback never sees them.
func TestFailoverReadsToFallback(t *testing.T) {
	testenv.Setup(t)
	a1, p1 := testenv.MilvusLiteProc(t)
	a2, p2 := testenv.MilvusLiteProc(t)
	fb := testenv.MilvusLite(t)
	for _, a := range []string{a1, a2} {
		foBackend(t, a, 1)
	}
	foBackend(t, fb, 2)
	p := testenv.NewPorts(t)
	testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: primary
    endpoints: [{address: %s}, {address: %s}]
  - name: backup
    endpoints: [{address: %s}]
routes:
  - cluster: primary
    fallback: backup
`, a1, a2, fb), p)
	c := testenv.Client(t, p.Listener)
	ctx := testenv.Root(context.Background())

	// Writes go to the primary while it is up.
	ins := insertRequest("fo", 1, foDim)
	ins.FieldsData[0].GetScalars().GetLongData().Data[0] = 100
	if r, err := c.Insert(ctx, ins); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("insert with the primary up: %v %v", r.GetStatus(), err)
	}

	loop := startReadLoop(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "reads served by the primary", func() bool {
		n := 0
		for _, call := range loop.snapshot() {
			if call.err == nil {
				n++
			}
		}
		return n >= 50
	})
	for _, call := range loop.snapshot() {
		if call.err != nil || !(call.servedBy(1) || len(call.ids) == 2) { // id 1, and id 100 once the insert is visible
			t.Fatalf("before the kill: a read ended %v with ids %v, want the primary's rows", call.err, call.ids)
		}
	}

	// Envoy picks a check's interval when it schedules it, and a cluster
	// checked before its first call may be on health.no_traffic_interval:
	// wait for two more rounds of checks of both endpoints, at the interval
	// of a cluster in use, as in a deployment that has been serving.
	hc0 := testenv.Counter(t, p.EnvoyAdmin, "cluster.primary.health_check.attempt")
	testenv.Eventually(t, 15*time.Second, "health checks at the 1 s interval", func() bool {
		return testenv.Counter(t, p.EnvoyAdmin, "cluster.primary.health_check.attempt") >= hc0+4
	})
	killed := time.Now()
	for _, pr := range []interface{ Pid() int }{p1, p2} {
		must(t, syscall.Kill(pr.Pid(), syscall.SIGKILL))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls := loop.snapshot()
		last := calls[len(calls)-1]
		if last.servedBy(2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads not served by the fallback within 5 s of the kill; last read %v %v; Envoy's clusters:\n%s", last.ids, last.err,
				testenv.AdminGet(t, p.EnvoyAdmin, "/clusters"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let the loop run 3 s more on the fallback.
	settle := time.Now().Add(3 * time.Second)
	testenv.Eventually(t, 10*time.Second, "3 s of reads after the switch", func() bool { return time.Now().After(settle) })
	loop.Stop()

	var failed, afterKill, fromFallback int
	var lastFail, firstFallback time.Time
	var firstErr error
	for _, call := range loop.snapshot() {
		if call.end.Before(killed) {
			continue
		}
		afterKill++
		switch {
		case call.err != nil:
			failed++
			lastFail = call.end
			if firstErr == nil {
				firstErr = call.err
			}
		case call.servedBy(2):
			fromFallback++
			if firstFallback.IsZero() {
				firstFallback = call.end
			}
		}
	}
	t.Logf("after the kill: %d reads, %d failed (first: %v), %d from the fallback; first fallback answer %v after the kill",
		afterKill, failed, firstErr, fromFallback, firstFallback.Sub(killed))
	if failed > 0 {
		t.Logf("last failed read %v after the kill", lastFail.Sub(killed))
		if lastFail.Sub(killed) > 5*time.Second {
			t.Errorf("a read failed %v after the kill, want none after 5 s", lastFail.Sub(killed))
		}
	}
	if firstFallback.Sub(killed) > 5*time.Second {
		t.Errorf("first read from the fallback %v after the kill, want within 5 s", firstFallback.Sub(killed))
	}
	t.Logf("Envoy: %d reads retried on %s, %d retry overflows; primary: %d ejections (%d refused by max_ejection_percent), %d failed active checks",
		testenv.Counter(t, p.EnvoyAdmin, "cluster.primary~backup.upstream_rq_retry"), "primary~backup",
		testenv.Counter(t, p.EnvoyAdmin, "cluster.primary~backup.upstream_rq_retry_overflow"),
		testenv.Counter(t, p.EnvoyAdmin, "cluster.primary.outlier_detection.ejections_enforced_total"),
		testenv.Counter(t, p.EnvoyAdmin, "cluster.primary.outlier_detection.ejections_overflow"),
		testenv.Counter(t, p.EnvoyAdmin, "cluster.primary.health_check.failure"))

	// Writes stay on the primary: UNAVAILABLE, and nothing reaches the fallback.
	ins.FieldsData[0].GetScalars().GetLongData().Data[0] = 200
	_, err := c.Insert(ctx, ins)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("insert with the primary down: %v, want UNAVAILABLE", err)
	}
	t.Logf("insert with the primary down: %v", err)
	ids, err := foIDs(ctx, testenv.Client(t, fb))
	if err != nil || len(ids) != 1 || ids[0] != 2 {
		t.Errorf("the fallback holds ids %v (%v), want only its own 2: a write reached it", ids, err)
	}
	// With the primary down, schema fills come from the fallback: after the
	// cache is dropped, reads through the edge are validated again (a fill
	// that succeeds), not passed unvalidated (a failed fill).
	fills0, fillErrs0 := schemaFills(t, p.Admin)
	resp, err := http.Post("http://"+p.Admin+"/v1/cache/invalidate", "application/json", strings.NewReader(`{}`))
	must(t, err)
	resp.Body.Close()
	if ids, err := foIDs(ctx, c); err != nil || len(ids) != 1 || ids[0] != 2 {
		t.Errorf("read after the write: %v %v, want the fallback's row", ids, err)
	}
	fills, fillErrs := schemaFills(t, p.Admin)
	t.Logf("schema fills with the primary down: %d (%d failed)", fills-fills0, fillErrs-fillErrs0)
	if fills == fills0 || fillErrs != fillErrs0 {
		t.Errorf("schema fills with the primary down: %d, %d failed; want one from the fallback, none failed", fills-fills0, fillErrs-fillErrs0)
	}
}

// schemaFills reads the schema cache's fill counts from the edge's /v1/status.
func schemaFills(t *testing.T, admin string) (fills, errs int) {
	t.Helper()
	st := testenv.AdminGet(t, admin, "/v1/status")
	get := func(k string) int {
		m := regexp.MustCompile(`"` + k + `":(\d+)`).FindStringSubmatch(st)
		if m == nil {
			t.Fatalf("/v1/status has no %s: %s", k, st)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return get("Fills"), get("FillErrors")
}

// twoFoBackends sets the test up with two milvus-lite endpoints holding "fo"
// with row 1: a, and b, a process of its own the test can signal (pb).
func twoFoBackends(t *testing.T) (a, b string, pb *procs.Proc) {
	testenv.Setup(t)
	a = testenv.MilvusLite(t)
	b, pb = testenv.MilvusLiteProc(t)
	foBackend(t, a, 1)
	foBackend(t, b, 1)
	return a, b, pb
}

// retryConfig is one cluster "default" of two endpoints whose health checks
// and outlier ejection do not notice a dead endpoint during the test (a
// 60 s check interval, ejection off), so that only the retry policy can
// carry a call past it.
func retryConfig(p testenv.Ports, a, b string, wa, wb int, extra string) string {
	return p.ConfigHead() + extra + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s, weight: %d}, {address: %s, weight: %d}]
    health: {interval: 60s, no_traffic_interval: 60s, consecutive_gateway_errors: 0}
routes:
  - cluster: default
`, a, wa, b, wb)
}

// TestReadRetryOnAnotherHost: one of two endpoints is killed under a
// 4-worker read loop, before any health check can notice: every read still
// succeeds — the ones in flight on it (reset) and the ones sent to it after
// (connect failure) are retried on the other — and Envoy's retry counter
// shows it.
func TestReadRetryOnAnotherHost(t *testing.T) {
	a, b, pb := twoFoBackends(t)
	p := testenv.NewPorts(t)
	testenv.Run(t, retryConfig(p, a, b, 1, 1, ""), p)

	loop := startReadLoop(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "reads on both endpoints", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", a, "rq_success") >= 20 &&
			testenv.HostStat(t, p.EnvoyAdmin, "default", b, "rq_success") >= 20
	})
	retries0 := testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_retry")
	killed := time.Now()
	must(t, syscall.Kill(pb.Pid(), syscall.SIGKILL))
	// 3 s of reads with b dead; b's per-host errors show calls kept going to it.
	testenv.Eventually(t, 10*time.Second, "reads sent to the dead endpoint", func() bool {
		return time.Since(killed) > 3*time.Second && testenv.HostStat(t, p.EnvoyAdmin, "default", b, "cx_connect_fail") >= 5
	})
	loop.Stop()

	var ok, failed int
	var firstErr error
	for _, call := range loop.snapshot() {
		if call.end.Before(killed) {
			continue
		}
		if call.err != nil {
			failed++
			if firstErr == nil {
				firstErr = call.err
			}
		} else {
			ok++
		}
	}
	retries := testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_retry") - retries0
	overflow := testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_retry_overflow")
	connFail := testenv.HostStat(t, p.EnvoyAdmin, "default", b, "cx_connect_fail")
	t.Logf("after the kill: %d reads ok, %d failed (first: %v); Envoy retried %d (overflow %d), %d connect failures to the dead endpoint",
		ok, failed, firstErr, retries, overflow, connFail)
	if failed != 0 || ok == 0 {
		t.Errorf("%d reads failed after the kill (first: %v), want 0", failed, firstErr)
	}
	if retries == 0 {
		t.Errorf("cluster.default.upstream_rq_retry did not move")
	}
}

// TestWriteNotRetriedAfterSent: with the favoured endpoint stopped
// (SIGSTOP), reads and writes are sent to it and hang; it is then killed,
// which resets their streams after the requests were sent. Every read is
// retried on the other endpoint and succeeds; every write routed to it fails
// with UNAVAILABLE and its row is on no endpoint (a retried write would have
// been stored by the other one), while writes routed to the other endpoint
// are stored once.
func TestWriteNotRetriedAfterSent(t *testing.T) {
	a, b, pb := twoFoBackends(t)
	p := testenv.NewPorts(t)
	// b takes most calls (weight 8 vs 1); no hedging during the test.
	testenv.Run(t, retryConfig(p, a, b, 1, 8, "retries: {read_per_try_timeout: 60s}\n"), p)
	c := testenv.Client(t, p.Listener)
	ctx := testenv.Root(context.Background())
	// Warm the schema cache (fills then need no backend).
	if _, err := foIDs(ctx, c); err != nil {
		t.Fatal(err)
	}
	ins := insertRequest("fo", 1, foDim)
	if r, err := c.Insert(ctx, ins); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("warm-up insert: %v %v", r.GetStatus(), err)
	}
	retries0 := testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_retry")
	active0 := testenv.HostStat(t, p.EnvoyAdmin, "default", b, "rq_active")

	pid := pb.Pid()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	const n = 4
	type result struct {
		id  int64
		err error
	}
	reads, writes := make(chan error, n), make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err := foIDs(cctx, c)
			reads <- err
		}()
		go func(id int64) {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			req := insertRequest("fo", 1, foDim)
			req.FieldsData[0].GetScalars().GetLongData().Data[0] = id
			// A client asking Envoy itself to retry resets is not obeyed.
			cctx = metadata.AppendToOutgoingContext(cctx, "x-envoy-retry-on", "reset", "x-envoy-max-retries", "3")
			r, err := c.Insert(cctx, req)
			if err == nil && r.GetStatus().GetCode() != 0 {
				err = fmt.Errorf("insert status %v", r.GetStatus())
			}
			writes <- result{id, err}
		}(int64(1000 + i))
	}
	testenv.Eventually(t, 10*time.Second, "calls in flight on the stopped endpoint", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", b, "rq_active")-active0 >= n
	})
	inFlight := testenv.HostStat(t, p.EnvoyAdmin, "default", b, "rq_active") - active0
	must(t, syscall.Kill(pid, syscall.SIGKILL))

	var readFail int
	for i := 0; i < n; i++ {
		if err := <-reads; err != nil {
			readFail++
			t.Errorf("read in flight on the killed endpoint: %v, want it retried on the other", err)
		}
	}
	stored := map[int64]bool{}
	ids, err := foIDs(ctx, testenv.Client(t, a))
	must(t, err)
	for _, id := range ids {
		stored[id] = true
	}
	var failedWrites, okWrites int
	for i := 0; i < n; i++ {
		r := <-writes
		switch {
		case r.err == nil:
			okWrites++
			if !stored[r.id] {
				t.Errorf("write %d succeeded but endpoint a does not hold it", r.id)
			}
		default:
			failedWrites++
			if status.Code(r.err) != codes.Unavailable {
				t.Errorf("write %d: %v, want UNAVAILABLE", r.id, r.err)
			}
			if stored[r.id] {
				t.Errorf("write %d failed on the killed endpoint, yet endpoint a stored it: it was retried after it was sent", r.id)
			}
		}
	}
	retries := testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_retry") - retries0
	t.Logf("%d calls in flight on the stopped endpoint when killed; reads: %d of %d failed; writes: %d failed (UNAVAILABLE, stored nowhere), %d stored on the other endpoint; Envoy retried %d",
		inFlight, readFail, n, failedWrites, okWrites, retries)
	if failedWrites == 0 {
		t.Errorf("no write was in flight on the killed endpoint: the test did not exercise the write rule")
	}
	if retries == 0 {
		t.Errorf("cluster.default.upstream_rq_retry did not move")
	}
}

// TestReadHedgeAfterPerTryTimeout: retries.read_per_try_timeout starts a
// second try on another host without cutting the first. Both endpoints sit
// behind testenv.LatencyProxy (a fake network: the backends are real
// milvus-lite, only the delay is made up). With every answer slower than the
// per-try timeout, reads still succeed (a cut try would fail them: its retry
// is as slow); with one endpoint stopped (SIGSTOP), a read sent to it is
// answered by the other about one per-try timeout later.
func TestReadHedgeAfterPerTryTimeout(t *testing.T) {
	a, b, pb := twoFoBackends(t)
	pxa, pxb := testenv.NewLatencyProxy(t, a), testenv.NewLatencyProxy(t, b)
	p := testenv.NewPorts(t)
	const perTry = time.Second
	testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`retries: {read_per_try_timeout: %s}
clusters:
  - name: default
    endpoints: [{address: %s}, {address: %s}]
    health: {kind: none, consecutive_gateway_errors: 0}
routes:
  - cluster: default
`, perTry, pxa.Addr, pxb.Addr), p)
	c := testenv.Client(t, p.Listener)
	ctx := testenv.Root(context.Background())
	if _, err := foIDs(ctx, c); err != nil { // warm the schema cache
		t.Fatal(err)
	}
	counter := func(s string) int { return testenv.Counter(t, p.EnvoyAdmin, "cluster.default."+s) }
	// timedRead reads every id of "fo" and says how long the read took.
	timedRead := func() ([]int64, time.Duration, error) {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ids, err := foIDs(cctx, c)
		return ids, time.Since(start), err
	}

	// Slow answers: every try takes longer than the per-try timeout.
	pxa.SetDelay(600 * time.Millisecond)
	pxb.SetDelay(600 * time.Millisecond)
	// A hedged try counts as a retry (Envoy counts no per-try timeout for it).
	pt0 := counter("upstream_rq_retry")
	for i := 0; i < 3; i++ {
		ids, took, err := timedRead()
		t.Logf("slow read %d: %v in %v", i, err, took.Round(time.Millisecond))
		if err != nil || len(ids) != 1 {
			t.Fatalf("slow read %d: %v %v after %v, want the answer (a per-try timeout must not cut it)", i, ids, err, took)
		}
		if took < perTry {
			t.Fatalf("slow read %d took %v, under the per-try timeout: the test's delay did not hold", i, took)
		}
	}
	hedged := counter("upstream_rq_retry") - pt0
	t.Logf("slow reads: %d hedged tries", hedged)
	if hedged < 3 {
		t.Errorf("%d hedged tries for 3 reads slower than the per-try timeout (%v), want 3", hedged, perTry)
	}

	// A stopped endpoint: reads sent to it are answered by the other.
	pxa.SetDelay(0)
	pxb.SetDelay(0)
	pid := pb.Pid()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	var slowest time.Duration
	r0 := counter("upstream_rq_retry")
	for i := 0; i < 6; i++ {
		_, took, err := timedRead()
		slowest = max(slowest, took)
		if err != nil {
			t.Fatalf("read %d with an endpoint stopped: %v after %v", i, err, took)
		}
	}
	t.Logf("with one endpoint stopped: 6 reads ok, slowest %v (per-try timeout %v), %d hedged", slowest.Round(time.Millisecond), perTry, counter("upstream_rq_retry")-r0)
	if slowest > perTry+2*time.Second {
		t.Errorf("slowest read %v, want about the per-try timeout (%v)", slowest, perTry)
	}
}

// TestFailoverSurvivesClusterUpdate: an aggregate cluster keeps serving when
// CDS replaces the clusters under it (a config reload that changes the
// primary, e.g. its connect timeout): no read of a 4-worker loop fails.
// (An old Envoy issue, envoyproxy/envoy#11498, had an aggregate answer 503
// while a member cluster was being replaced.)
func TestFailoverSurvivesClusterUpdate(t *testing.T) {
	testenv.Setup(t)
	a, fb := testenv.MilvusLite(t), testenv.MilvusLite(t)
	foBackend(t, a, 1)
	foBackend(t, fb, 2)
	p := testenv.NewPorts(t)
	cfg := func(timeout string) string {
		return p.ConfigHead() + fmt.Sprintf(`clusters:
  - name: primary
    connect_timeout: %s
    endpoints: [{address: %s}]
  - name: backup
    connect_timeout: %s
    endpoints: [{address: %s}]
routes:
  - cluster: primary
    fallback: backup
`, timeout, a, timeout, fb)
	}
	e := testenv.Run(t, cfg("1s"), p)
	loop := startReadLoop(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "reads flowing", func() bool { return len(loop.snapshot()) >= 50 })
	for i, timeout := range []string{"2s", "3s", "1s"} {
		u0 := testenv.Counter(t, p.EnvoyAdmin, "cluster_manager.cluster_modified")
		e.WriteConfig(t, cfg(timeout))
		testenv.Eventually(t, 5*time.Second, "clusters replaced", func() bool {
			return testenv.Counter(t, p.EnvoyAdmin, "cluster_manager.cluster_modified") >= u0+2
		})
		n := len(loop.snapshot())
		testenv.Eventually(t, 5*time.Second, "reads after the update", func() bool { return len(loop.snapshot()) >= n+100 })
		t.Logf("update %d (connect_timeout %s) applied", i, timeout)
	}
	loop.Stop()
	var ok, failed, fromFallback int
	var firstErr error
	for _, call := range loop.snapshot() {
		switch {
		case call.err != nil:
			failed++
			if firstErr == nil {
				firstErr = call.err
			}
		case call.servedBy(2):
			fromFallback++
		default:
			ok++
		}
	}
	t.Logf("%d reads from the primary, %d from the fallback, %d failed (first: %v) across 3 cluster replacements", ok, fromFallback, failed, firstErr)
	if failed != 0 || fromFallback != 0 {
		t.Errorf("%d reads failed and %d went to the fallback while the primary was healthy, want 0 and 0", failed, fromFallback)
	}
}
