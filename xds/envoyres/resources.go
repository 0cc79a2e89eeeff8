package envoyres

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Resources is everything one Envoy node gets, in a stable order.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Secrets are the listener's TLS certificate and client CA, then per
	// cluster the service-mode credentials (SDS generic secrets) and the TLS
	// client certificate.
	Secrets []*tlsv3.Secret
}

// Build translates the gateway model into Envoy resources. It is pure: the same
// model always yields the same resources in the same order.
func Build(g *ir.Gateway) *Resources {
	r := &Resources{
		Listeners: []*listenerv3.Listener{buildListener(g)},
		Routes:    []*routev3.RouteConfiguration{buildRouteConfig(g)},
		Clusters:  []*clusterv3.Cluster{buildFilterCluster(g.Filters)},
		Secrets:   buildListenerSecrets(g.Listener.TLS),
	}
	for _, c := range g.Clusters {
		r.Clusters = append(r.Clusters, buildQueryNodeCluster(c))
		r.Secrets = append(r.Secrets, buildCredentialSecrets(c)...)
		r.Secrets = append(r.Secrets, buildClusterTLSSecrets(c)...)
		r.Endpoints = append(r.Endpoints, buildLoadAssignment(c))
	}
	addFailover(r, g)
	return r
}
