package envoyres

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// buildQueryNodeCluster returns the Envoy cluster for a QueryNode cluster.
// Its endpoints come by EDS, names resolved by the xDS server: a weight or a
// drain changes without touching the cluster.
// Upstream speaks the client's protocol: gRPC stays HTTP/2, REST stays HTTP/1.1,
// over TLS when the cluster has it (buildUpstreamTLS).
func buildQueryNodeCluster(c ir.Cluster) *clusterv3.Cluster {
	out := &clusterv3.Cluster{
		Name:           c.Name,
		ConnectTimeout: durationpb.New(c.ConnectTimeout),
		LbPolicy:       lbPolicy(c.LB),
		Metadata:       buildClusterMetadata(c),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: mustAny(&upstreamhttpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
					UseDownstreamProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
						HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
						Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
					},
				},
				// Service mode: the cluster's credential replaces the client's.
				HttpFilters: buildCredentialFilters(c),
			}),
		},
		TransportSocket: buildUpstreamTLS(c),
		// The health checks' TLS socket, with ALPN h2 (health.go).
		TransportSocketMatches: buildHealthCheckTLS(c),
		// Retries in flight (failover.go).
		CircuitBreakers: buildRetryBudget(),
		// Health (health.go): active checks, outlier ejection, panic threshold.
		HealthChecks:     buildHealthChecks(c),
		OutlierDetection: buildOutlierDetection(c),
		CommonLbConfig:   buildCommonLbConfig(c),
		// An endpoint removed by discovery or the config goes at once,
		// healthy or not (Envoy's default keeps a removed endpoint while
		// its checks pass).
		IgnoreHealthOnHostRemoval: true,
	}
	out.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
	out.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	return out
}

// buildLoadAssignment returns the weighted endpoints of a cluster. A
// draining endpoint is DRAINING: Envoy picks it for no new call and lets
// the calls in flight finish. An endpoint resolved from a name carries the
// name as its hostname (Envoy's /clusters shows it).
func buildLoadAssignment(c ir.Cluster) *endpointv3.ClusterLoadAssignment {
	lbs := make([]*endpointv3.LbEndpoint, 0, len(c.Endpoints))
	for _, ep := range c.Endpoints {
		lb := &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address:  socketAddress(ep.Address),
				Hostname: ep.Hostname,
			}},
			LoadBalancingWeight: wrapperspb.UInt32(ep.Weight),
		}
		if ep.Draining {
			lb.HealthStatus = corev3.HealthStatus_DRAINING
		}
		lbs = append(lbs, lb)
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: c.Name,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}},
	}
}

// buildFilterCluster is how Envoy reaches the edge's ext_authz and ext_proc
// server: HTTP/2 with keepalive so a dead filter server is noticed quickly.
func buildFilterCluster(f ir.FilterServer) *clusterv3.Cluster {
	return grpcServiceCluster(FilterCluster, f.Address, &corev3.Http2ProtocolOptions{
		ConnectionKeepalive: &corev3.KeepaliveSettings{
			Interval: durationpb.New(30 * time.Second),
			Timeout:  durationpb.New(5 * time.Second),
		},
	})
}

// grpcServiceCluster is a one-endpoint HTTP/2 cluster for a gRPC service
// the edge points Envoy at (its filter server, the OTLP collector): an IP
// statically, a name by DNS.
func grpcServiceCluster(name string, addr ir.Address, h2 *corev3.Http2ProtocolOptions) *clusterv3.Cluster {
	typ := clusterv3.Cluster_STATIC
	if addr.NeedsDNS() {
		typ = clusterv3.Cluster_STRICT_DNS
	}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: typ},
		ConnectTimeout:       durationpb.New(time.Second),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			httpProtocolOptionsKey: mustAny(&upstreamhttpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
					ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
						ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
							Http2ProtocolOptions: h2,
						},
					},
				},
			}),
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: socketAddress(addr),
				}},
			}}}},
		},
	}
}

func lbPolicy(p ir.LBPolicy) clusterv3.Cluster_LbPolicy {
	switch p {
	case ir.LeastRequest:
		return clusterv3.Cluster_LEAST_REQUEST
	case ir.Random:
		return clusterv3.Cluster_RANDOM
	default:
		return clusterv3.Cluster_ROUND_ROBIN
	}
}
