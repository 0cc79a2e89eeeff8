package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestStalledBackendColdCache: with the backend stopped (SIGSTOP) and the
// schema cache cold, a call with a 10 s client timeout is not failed by the
// edge — it reaches the backend within the fill budget and ends with the
// client's own DEADLINE_EXCEEDED, never UNAVAILABLE — and once the stalled
// fill has failed, calls pass at once (the failure is remembered).
func TestStalledBackendColdCache(t *testing.T) {
	testenv.Setup(t)
	backend, lite := testenv.MilvusLiteProc(t)
	p := testenv.NewPorts(t)
	const budget = 250 * time.Millisecond
	// No active checks: the subject is the edge's own fill budget with the
	// sole backend stalled, not Envoy's ejection — the checks would mark the
	// stopped endpoint down within ≈ 2 s and Envoy would answer "no healthy
	// upstream" instead of sending the call on.
	cluster := fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
    health: {kind: none}
routes:
  - cluster: default
`, backend)
	e := testenv.Run(t, p.ConfigHead()+cluster+fmt.Sprintf("validation: {fill_budget: %s, failure_ttl: 30s}\n", budget), p)
	c := testenv.Client(t, e.Ports.Listener)
	ctx := testenv.Root(context.Background())
	createVectorCollection(ctx, t, c, "stall", 8)

	pid := lite.Pid()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	resp, err := http.Post("http://"+e.Ports.Admin+"/v1/cache/invalidate", "application/json", strings.NewReader(`{}`))
	must(t, err)
	resp.Body.Close()

	upstream := func() int { return testenv.Counter(t, e.Ports.EnvoyAdmin, upstreamTotal) }
	// call sends a Query with a 10 s timeout and reports how long the edge
	// held it before Envoy sent it upstream, and how the call ended.
	call := func(what string) {
		t.Helper()
		u0 := upstream()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := c.Query(cctx, &milvuspb.QueryRequest{CollectionName: "stall", Expr: "id > 0"})
			done <- err
		}()
		held := testenv.Eventually(t, 5*time.Second, what+": call sent upstream", func() bool { return upstream() > u0 })
		t.Logf("%s: held %v by the edge", what, held)
		if limit := budget + 750*time.Millisecond; held > limit {
			t.Errorf("%s: the edge held the call %v before sending it on, want at most the fill budget (%v, %v with slack)", what, held, budget, limit)
		}
		err := <-done
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("%s: ended with %v after %v, want the client's own DEADLINE_EXCEEDED", what, err, time.Since(start))
		}
	}
	call("first call (fill stalls)")
	// The fill times out (5 s) while that call waits on the stopped backend;
	// from then on its failure is remembered and calls pass at once.
	call("call after the fill failed")
	stats := testenv.AdminGet(t, e.Ports.Admin, "/v1/status")
	if !strings.Contains(stats, `"FailHits":`) || strings.Contains(stats, `"FailHits":0`) {
		t.Errorf("/v1/status schema cache shows no remembered failure: %s", stats)
	}
}
