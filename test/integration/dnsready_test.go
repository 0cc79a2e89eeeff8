package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestAllDNSConfigBecomesReady: a config whose every endpoint is a DNS name
// (localhost:<port> of a real milvus-lite), resolved by the edge into EDS:
// `run` becomes ready (the ready line) and a call passes through to the
// backend.
func TestAllDNSConfigBecomesReady(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	_, port, _ := net.SplitHostPort(backend)
	p := testenv.NewPorts(t)
	start := time.Now()
	e := testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: default
    rest: false
    endpoints: [{address: "localhost:%s"}]
routes:
  - cluster: default
`, port), p)
	t.Logf("ready after %v", time.Since(start).Round(time.Millisecond))
	c := testenv.Client(t, e.Ports.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 10*time.Second)
	defer cancel()
	before := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total")
	r, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
	if err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("ShowCollections through an all-DNS config: %v %v", r.GetStatus(), err)
	}
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total"); n <= before {
		t.Errorf("the call did not reach the backend (upstream_rq_total %d → %d)", before, n)
	}
}
