package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// startXDS serves cfg on addr until the returned stop is called.
func startXDS(t *testing.T, cfg *config.Config, addr string) (*xdsserver.Server, func()) {
	t.Helper()
	srv := xdsserver.New(cfg.Envoy.NodeID, testenv.Logger(t), app.XDSOptions())
	if _, _, err := srv.Update(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	return srv, testenv.Serve(t, addr, srv.Serve)
}

// TestXDSRestartUnderLoad stops the control plane while traffic flows: Envoy
// keeps serving on its last config, reconnects to the new server, resyncs, and
// takes a change made through it. No request fails.
func TestXDSRestartUnderLoad(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	yaml := func(weight int) string {
		// Parts started by hand, as the external mode runs them.
		return p.ConfigHeadFor(config.FiltersExternal) + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s, weight: %d}]
routes:
  - cluster: default
`, backend, weight)
	}
	cfg, err := config.Parse([]byte(yaml(1)))
	if err != nil {
		t.Fatal(err)
	}
	log := testenv.Logger(t)
	filters, err := app.NewFilters(context.Background(), log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	flis, err := net.Listen("tcp", p.Filters)
	if err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithCancel(context.Background())
	t.Cleanup(fcancel)
	go func() { _ = filters.Serve(fctx, flis) }()
	_, stopXDS := startXDS(t, cfg, p.XDS)
	t.Cleanup(stopXDS) // a second call is a no-op

	envoyProc, err := app.StartEnvoy(log, cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = envoyProc.Stop(10 * time.Second) })
	testenv.Eventually(t, 30*time.Second, "envoy serves", func() bool {
		return app.ProbeThroughEnvoy(context.Background(), p.Listener) == nil
	})

	load := testenv.StartLoad(t, p.Listener, 4)
	time.Sleep(300 * time.Millisecond)
	stopXDS()
	testenv.Eventually(t, 10*time.Second, "envoy notices the control plane is gone", func() bool {
		return testenv.Counter(t, p.EnvoyAdmin, "control_plane.connected_state") == 0
	})
	time.Sleep(time.Second) // traffic continues on the last config meanwhile

	newCfg, err := config.Parse([]byte(yaml(7)))
	if err != nil {
		t.Fatal(err)
	}
	srv2, stop2 := startXDS(t, newCfg, p.XDS)
	t.Cleanup(stop2)
	took := testenv.Eventually(t, 15*time.Second, "envoy reconnects and ACKs the new server's snapshot", func() bool {
		return testenv.Counter(t, p.EnvoyAdmin, "control_plane.connected_state") == 1 && srv2.Synced()
	})
	t.Logf("envoy resynced %s after the new xDS server started", took)
	if w := testenv.HostStat(t, p.EnvoyAdmin, "default", backend, "weight"); w != 7 {
		t.Fatalf("endpoint weight after resync is %d, want 7 from the new server", w)
	}
	time.Sleep(300 * time.Millisecond)
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load across the xDS restart: %d ok, %d failed", ok, fail)
	if fail != 0 || ok == 0 {
		t.Fatalf("load across the xDS restart: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}
}
