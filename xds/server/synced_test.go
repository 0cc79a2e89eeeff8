package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// TestSyncedWithoutEDS: Envoy never asks for endpoints when every cluster
// resolves DNS names (STRICT_DNS, endpoints inline), so an ACK of
// listeners, routes and clusters is synced; with an EDS cluster it is not
// until the endpoints are ACKed too.
func TestSyncedWithoutEDS(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint string
		eds            bool
	}{
		{"all DNS", "milvus-a:19530", false},
		{"an IP (EDS)", "10.0.0.1:19530", true},
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
			// One more round trip, so the server has seen the last ACK.
			a.send(resourcev3.EndpointType, "", "", "qn")
			if tc.eds {
				r := a.recv()
				if srv.Synced() {
					t.Fatal("synced before the endpoints were ACKed")
				}
				a.send(resourcev3.EndpointType, v, r.GetNonce(), "qn")
				a.send(resourcev3.SecretType, "", "", "none")
			}
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
