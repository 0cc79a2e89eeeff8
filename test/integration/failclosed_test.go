package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// startFilters serves the ext_authz/ext_proc server on addr until stop.
func startFilters(t *testing.T, cfg *config.Config, addr string) func() {
	t.Helper()
	f, err := app.NewFilters(context.Background(), testenv.Logger(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Serve(t, addr, f.Serve)
}

// TestAuthzDownFailsClosed kills the filter server under load: every request
// fails with UNAVAILABLE and none reaches the backend; after a restart the
// service is back within 2 s.
func TestAuthzDownFailsClosed(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	// The external filter server is what this test stops (in process, the
	// module keeps checking what it can; docs/in-process.md).
	cfg, err := config.Parse([]byte(p.ConfigHeadFor(config.FiltersExternal) + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, backend)))
	if err != nil {
		t.Fatal(err)
	}
	log := testenv.Logger(t)
	stopFilters := startFilters(t, cfg, p.Filters)
	_, stopXDS := startXDS(t, cfg, p.XDS)
	t.Cleanup(stopXDS)
	envoyProc, err := app.StartEnvoy(log, cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = envoyProc.Stop(10 * time.Second) })
	testenv.Eventually(t, 30*time.Second, "envoy serves", func() bool {
		return app.ProbeThroughEnvoy(context.Background(), p.Listener) == nil
	})
	upstream := func() int { return testenv.Counter(t, p.EnvoyAdmin, "cluster.default.upstream_rq_total") }

	load := testenv.StartLoad(t, p.Listener, 4)
	testenv.Eventually(t, 5*time.Second, "load flows", func() bool { return load.OK() > 20 })
	stopFilters()
	time.Sleep(200 * time.Millisecond) // requests in flight at the kill finish
	okAtKill, upAtKill := load.OK(), upstream()
	testenv.Eventually(t, 5*time.Second, "requests fail while authz is down", func() bool {
		return load.Failures()[codes.Unavailable] > 50
	})
	if got := load.OK(); got != okAtKill {
		t.Fatalf("%d requests succeeded with authz down", got-okAtKill)
	}
	if got := upstream(); got != upAtKill {
		t.Fatalf("backend saw %d requests with authz down", got-upAtKill)
	}
	for c, n := range load.Failures() {
		if c != codes.Unavailable {
			t.Fatalf("with authz down %d requests failed with %v, want only UNAVAILABLE", n, c)
		}
	}

	restart := time.Now()
	startFilters(t, cfg, p.Filters)
	took := testenv.Eventually(t, 2*time.Second, "service back after the restart", func() bool { return load.OK() > okAtKill+10 })
	load.Stop()
	t.Logf("authz down: %d requests failed with UNAVAILABLE, 0 reached the backend; back %s after restart (bind took %s)",
		load.Failures()[codes.Unavailable], took, time.Since(restart)-took)
}
