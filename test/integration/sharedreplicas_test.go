package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestSharedLimitAcrossReplicas: two edges (two Envoys) in front of one
// milvus-lite share a 40 queries/s collection limit through the real
// envoyproxy/ratelimit service and Redis. Under a load far above the limit
// on both, the pair admits 40/s in all (±10 %); with Redis stopped each
// replica holds its share, 20/s; with Redis back they share again.
func TestSharedLimitAcrossReplicas(t *testing.T) {
	lite := testenv.MilvusLite(t)
	redis := testenv.Redis(t)
	svc := testenv.RateLimitService(t, redis.Addr())
	const limit = 40.0
	// The service's timeout is generous here: this test is about sharing and
	// falling back, and a loaded CI machine must not turn slow answers into
	// local decisions (the default 50 ms suits a service on the same host).
	cfg := func(p testenv.Ports) string {
		return p.ConfigHead() + oneCluster(lite) + fmt.Sprintf(`rate_limit:
  enabled: true
  collections:
    - {database: default, name: shared_q, query_qps: %v}
  shared: {address: %s, timeout: 500ms, replicas: 2}
`, limit, svc.Addr())
	}
	var edges [2]*testenv.Edge
	for i := range edges {
		p := testenv.NewPorts(t)
		edges[i] = testenv.Run(t, cfg(p), p)
	}
	ctx := testenv.Root(context.Background())
	createVectorCollection(ctx, t, testenv.Client(t, lite), "shared_q", 8)

	// Four workers per replica, each calling as fast as the edge answers:
	// hundreds of calls per second, most of them refused.
	var admitted [2]atomic.Int64
	var other atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, e := range edges {
		c := testenv.Client(t, e.Ports.Listener)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: "shared_q", Expr: "id >= 0", OutputFields: []string{"id"}})
					switch {
					case err != nil:
						other.Store(err.Error())
						time.Sleep(10 * time.Millisecond)
					case r.GetStatus().GetCode() != 8:
						admitted[i].Add(1) // admitted by the limit (the backend may still refuse: not loaded)
					}
				}
			}()
		}
	}
	defer func() { close(stop); wg.Wait() }()

	// measure counts each replica's admitted calls over n whole seconds of
	// the service's fixed windows (from the middle of one second to the
	// middle of another, so that exactly n windows open inside).
	measure := func(n int) [2]float64 {
		now := time.Now()
		time.Sleep(now.Truncate(time.Second).Add(1500 * time.Millisecond).Sub(now))
		a0, b0 := admitted[0].Load(), admitted[1].Load()
		time.Sleep(time.Duration(n) * time.Second)
		a1, b1 := admitted[0].Load(), admitted[1].Load()
		return [2]float64{float64(a1-a0) / float64(n), float64(b1-b0) / float64(n)}
	}
	within := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol*want {
			t.Errorf("%s: %.1f/s, want %.0f/s ±%.0f%%", what, got, want, tol*100)
		} else {
			t.Logf("%s: %.1f/s (want %.0f/s)", what, got, want)
		}
	}
	fallbacks := func(e *testenv.Edge) float64 {
		var st struct {
			RateLimit struct {
				Shared struct {
					Fallbacks float64 `json:"fallback_calls"`
				} `json:"shared"`
			} `json:"rate_limit"`
		}
		if err := json.Unmarshal([]byte(testenv.AdminGet(t, e.Ports.Admin, "/v1/status")), &st); err != nil {
			t.Fatal(err)
		}
		return st.RateLimit.Shared.Fallbacks
	}

	time.Sleep(time.Second) // connections up, buckets drained
	f0 := fallbacks(edges[0]) + fallbacks(edges[1])
	r := measure(5)
	within("shared: both replicas together", r[0]+r[1], limit, 0.10)
	if f := fallbacks(edges[0]) + fallbacks(edges[1]) - f0; f > 0 {
		t.Errorf("%v calls were decided locally while the service was up", f)
	}

	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // failures seen; local buckets drained
	r = measure(5)
	within("Redis down: replica 1 alone", r[0], limit/2, 0.15)
	within("Redis down: replica 2 alone", r[1], limit/2, 0.15)
	within("Redis down: both together", r[0]+r[1], limit, 0.10)
	if fallbacks(edges[0]) == 0 || fallbacks(edges[1]) == 0 {
		t.Error("no call was decided locally while Redis was down")
	}

	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := redis.Start(sctx); err != nil {
		t.Fatal(err)
	}
	// The service reconnects within a few seconds; then no call falls back.
	testenv.Eventually(t, 20*time.Second, "the replicas share the service again", func() bool {
		f := fallbacks(edges[0]) + fallbacks(edges[1])
		time.Sleep(2200 * time.Millisecond) // two whole seconds without a local decision
		return fallbacks(edges[0])+fallbacks(edges[1]) == f
	})
	t.Logf("shared again %.1fs after Redis restarted", time.Since(start).Seconds())
	r = measure(5)
	within("Redis back: both together", r[0]+r[1], limit, 0.10)
	if e := other.Load(); e != nil {
		t.Logf("a gRPC error during the load (counted as neither): %v", e)
	}
}
