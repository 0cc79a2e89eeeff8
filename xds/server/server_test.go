package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

func cfg(t *testing.T, weight int) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(fmt.Sprintf(`
clusters:
  - name: qn
    endpoints:
      - {address: 10.0.0.1:19530, weight: %d}
      - {address: 10.0.0.2:19530}
routes:
  - cluster: qn
`, weight)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type adsClient struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
}

// serveADS serves srv's ADS on 127.0.0.1:0 until ctx ends and opens a
// stream to it as Envoy node "node-1" would.
func serveADS(t *testing.T, ctx context.Context, srv *server.Server) *adsClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &adsClient{t: t, stream: stream, node: &corev3.Node{Id: "node-1"}}
}

func (a *adsClient) send(typeURL, version, nonce string, names ...string) {
	a.t.Helper()
	err := a.stream.Send(&discoveryv3.DiscoveryRequest{
		Node: a.node, TypeUrl: typeURL, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names,
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

func (a *adsClient) recv() *discoveryv3.DiscoveryResponse {
	a.t.Helper()
	r, err := a.stream.Recv()
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

// TestADS starts the real xDS server on 127.0.0.1:0 and talks ADS to it as
// Envoy would: it asserts on the DiscoveryResponses, that an unchanged config
// pushes nothing, and that a weight change pushes a new EDS version.
func TestADS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := server.New("node-1", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	v1, pushed, err := srv.Update(ctx, cfg(t, 3))
	if err != nil || !pushed {
		t.Fatalf("first update: pushed=%v err=%v", pushed, err)
	}
	a := serveADS(t, ctx, srv)

	a.send(resourcev3.ClusterType, "", "")
	cds := a.recv()
	if cds.GetVersionInfo() != v1 || len(cds.GetResources()) != 2 {
		t.Fatalf("CDS: version %q with %d clusters, want %q with filter cluster + qn", cds.GetVersionInfo(), len(cds.GetResources()), v1)
	}
	a.send(resourcev3.ClusterType, v1, cds.GetNonce()) // ACK
	a.send(resourcev3.EndpointType, "", "", "qn")
	eds := a.recv()
	if got := weights(t, eds); fmt.Sprint(got) != "[3 1]" {
		t.Fatalf("EDS weights %v, want [3 1]", got)
	}
	a.send(resourcev3.EndpointType, v1, eds.GetNonce(), "qn")
	a.send(resourcev3.ListenerType, "", "")
	lds := a.recv()
	if len(lds.GetResources()) != 1 {
		t.Fatalf("LDS: %d listeners", len(lds.GetResources()))
	}
	a.send(resourcev3.ListenerType, v1, lds.GetNonce())
	a.send(resourcev3.RouteType, "", "", "milvus")
	rds := a.recv()
	a.send(resourcev3.RouteType, v1, rds.GetNonce(), "milvus")
	// A NACK of the routes (keeping v1, so nothing is sent again).
	if err := a.stream.Send(&discoveryv3.DiscoveryRequest{Node: a.node, TypeUrl: resourcev3.RouteType, VersionInfo: v1,
		ResponseNonce: rds.GetNonce(), ResourceNames: []string{"milvus"}, ErrorDetail: &status.Status{Message: "bad route"}}); err != nil {
		t.Fatal(err)
	}
	want := server.Counts{Snapshots: 1, Types: map[string]server.TypeCounts{
		resourcev3.ClusterType: {Responses: 1, ACKs: 1}, resourcev3.EndpointType: {Responses: 1, ACKs: 1},
		resourcev3.ListenerType: {Responses: 1, ACKs: 1}, resourcev3.RouteType: {Responses: 1, ACKs: 1, NACKs: 1},
	}}
	for deadline := time.Now().Add(5 * time.Second); fmt.Sprint(srv.Counts()) != fmt.Sprint(want); {
		if time.Now().After(deadline) {
			t.Fatalf("Counts = %+v, want %+v", srv.Counts(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The same config again: same content hash, nothing pushed.
	if v, pushed, err := srv.Update(ctx, cfg(t, 3)); err != nil || pushed || v != v1 {
		t.Fatalf("unchanged update: version %q pushed=%v err=%v", v, pushed, err)
	}
	// A weight change: a new version and new EDS weights.
	v2, pushed, err := srv.Update(ctx, cfg(t, 5))
	if err != nil || !pushed || v2 == v1 {
		t.Fatalf("changed update: version %q pushed=%v err=%v", v2, pushed, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r := a.recv()
		if r.GetTypeUrl() == resourcev3.EndpointType {
			if r.GetVersionInfo() != v2 || fmt.Sprint(weights(t, r)) != "[5 1]" {
				t.Fatalf("EDS after change: version %q weights %v", r.GetVersionInfo(), weights(t, r))
			}
			if !srv.Synced() {
				// Envoy has not ACKed v2 yet: Synced must say so.
				return
			}
			t.Fatal("Synced before the new version was ACKed")
		}
	}
	t.Fatal("no EDS push after the weight change")
}

func weights(t *testing.T, r *discoveryv3.DiscoveryResponse) []uint32 {
	t.Helper()
	var out []uint32
	for _, res := range r.GetResources() {
		var cla endpointv3.ClusterLoadAssignment
		if err := res.UnmarshalTo(&cla); err != nil {
			t.Fatal(err)
		}
		for _, l := range cla.GetEndpoints() {
			for _, ep := range l.GetLbEndpoints() {
				out = append(out, ep.GetLoadBalancingWeight().GetValue())
			}
		}
	}
	return out
}

// TestUpdateRejectsInconsistent: a model that fails translation changes nothing.
func TestUpdateRejectsInconsistent(t *testing.T) {
	srv := server.New("n", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	v1, _, err := srv.Update(context.Background(), cfg(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	bad := cfg(t, 1)
	bad.Routes[0].Cluster = "missing"
	if _, _, err := srv.Update(context.Background(), bad); err == nil {
		t.Fatal("update with a route to a missing cluster succeeded")
	}
	if got := srv.Status().Version; got != v1 {
		t.Fatalf("version after a refused update %q, want %q", got, v1)
	}
}
