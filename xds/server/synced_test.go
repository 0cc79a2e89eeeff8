package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// TestSyncedNeedsEndpoints: every QueryNode cluster comes by EDS, an
// endpoint given by name too (the server resolves it: localhost becomes
// 127.0.0.1, the name kept as the host's hostname), so the server is
// synced only once Envoy ACKed the endpoints as well.
func TestSyncedNeedsEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint, ip, hostname string
	}{
		{"a name", "localhost:19530", "127.0.0.1", "localhost"},
		{"an IP", "10.0.0.1:19530", "10.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c, err := config.Parse([]byte("edge: {filters_advertise_address: filters:18001}\nclusters: [{name: qn, endpoints: [{address: " +
				tc.endpoint + "}]}]\nroutes: [{cluster: qn}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			srv := server.New("node-1", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
			v, _, err := srv.Update(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			a := serveADS(t, ctx, srv)
			for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType} {
				var names []string
				if typ == resourcev3.RouteType {
					names = []string{"milvus"}
				}
				a.send(typ, "", "", names...)
				r := a.recv()
				a.send(typ, v, r.GetNonce(), names...)
			}
			a.send(resourcev3.EndpointType, "", "", "qn")
			r := a.recv()
			var cla endpointv3.ClusterLoadAssignment
			if len(r.GetResources()) != 1 || r.GetResources()[0].UnmarshalTo(&cla) != nil {
				t.Fatalf("EDS answer: %v", r.GetResources())
			}
			ep := cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint()
			if got := ep.GetAddress().GetSocketAddress().GetAddress(); got != tc.ip || ep.GetHostname() != tc.hostname {
				t.Errorf("endpoint %s (hostname %q), want %s (%q)", got, ep.GetHostname(), tc.ip, tc.hostname)
			}
			// One more round trip, so the server has seen the ACKs.
			a.send(resourcev3.SecretType, "", "", "none")
			if srv.Synced() {
				t.Fatal("synced before the endpoints were ACKed")
			}
			a.send(resourcev3.EndpointType, v, r.GetNonce(), "qn")
			a.send(resourcev3.SecretType, "", "", "none")
			waitSynced(t, srv)
		})
	}
}

func waitSynced(t *testing.T, srv *server.Server) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if srv.Synced() {
			return
		}
		sleepShort()
	}
	t.Fatalf("not synced: %+v", srv.Status())
}

func sleepShort() { time.Sleep(10 * time.Millisecond) }
