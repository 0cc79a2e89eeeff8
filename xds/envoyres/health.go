package envoyres

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// CheckHealthPath is the gRPC method the check_health kinds call.
const CheckHealthPath = "/milvus.proto.milvus.MilvusService/CheckHealth"

// GetVersionPath is the gRPC method the get_version kind calls: the Milvus
// proxy answers it from its own memory, where CheckHealth asks its
// coordinators (rootcoord, querycoord, datacoord) first.
const GetVersionPath = "/milvus.proto.milvus.MilvusService/GetVersion"

const (
	// checkHealthRequest is an empty CheckHealthRequest (or
	// GetVersionRequest) in a gRPC frame
	// (uncompressed, length 0), written as hex: Envoy's text payloads are hex.
	checkHealthRequest = "0000000000"
	// checkHealthHealthy is CheckHealthResponse's isHealthy = true (field 2,
	// varint 1): Envoy looks for these bytes in the answer's first 1 KiB
	// (check_health_is_healthy only).
	checkHealthHealthy = "1001"
	// outlierSweep is how often Envoy looks at ejected endpoints to put
	// back those whose ejection time is over.
	outlierSweep = time.Second
	// maxEjectionFactor caps an endpoint's ejection time (Envoy multiplies
	// the base time by the times it was ejected).
	maxEjectionFactor = 10
)

// buildHealthChecks returns a cluster's active health check, never with a
// credential (it would sit in CDS, readable in Envoy's config_dump):
//
//   - get_version: the MilvusService/GetVersion call over HTTP/2, healthy
//     on HTTP 200 — any gRPC answer (the version, UNAUTHENTICATED from a
//     Milvus with authorization on, UNIMPLEMENTED) means the server
//     process is up and answering; a dead, refusing or stalled endpoint
//     fails. The proxy answers it locally: a slow coordinator or etcd
//     does not fail it while Search still works.
//   - check_health: the same liveness check on MilvusService/CheckHealth,
//     which the proxy answers only after asking its coordinators: a slow
//     coordinator can time the check out while calls still work.
//   - check_health_is_healthy: the same call, wanting isHealthy true in
//     the answer (backends that answer it without a credential).
//   - grpc: grpc.health.v1, wanting SERVING.
//
// On a TLS cluster the checks use the socket that offers ALPN h2
// (buildHealthCheckTLS).
func buildHealthChecks(c ir.Cluster) []*corev3.HealthCheck {
	h := c.Health.Check
	if h == nil {
		return nil
	}
	out := &corev3.HealthCheck{
		Timeout:            durationpb.New(h.Timeout),
		Interval:           durationpb.New(h.Interval),
		NoTrafficInterval:  durationpb.New(h.NoTrafficInterval),
		UnhealthyThreshold: wrapperspb.UInt32(h.UnhealthyThreshold),
		HealthyThreshold:   wrapperspb.UInt32(h.HealthyThreshold),
	}
	if c.TLS != nil {
		out.TransportSocketMatchCriteria = healthCheckMatch()
	}
	switch h.Kind {
	case ir.GRPCHealth:
		out.HealthChecker = &corev3.HealthCheck_GrpcHealthCheck_{GrpcHealthCheck: &corev3.HealthCheck_GrpcHealthCheck{}}
	default:
		path := CheckHealthPath
		if h.Kind == ir.GetVersionRPC {
			path = GetVersionPath
		}
		hc := &corev3.HealthCheck_HttpHealthCheck{
			Path:            path,
			Method:          corev3.RequestMethod_POST,
			CodecClientType: typev3.CodecClientType_HTTP2,
			Send:            &corev3.HealthCheck_Payload{Payload: &corev3.HealthCheck_Payload_Text{Text: checkHealthRequest}},
			RequestHeadersToAdd: []*corev3.HeaderValueOption{
				header("content-type", "application/grpc"),
				header("te", "trailers"),
			},
		}
		if h.Kind == ir.CheckHealthIsHealthy {
			hc.Receive = []*corev3.HealthCheck_Payload{{Payload: &corev3.HealthCheck_Payload_Text{Text: checkHealthHealthy}}}
		}
		out.HealthChecker = &corev3.HealthCheck_HttpHealthCheck_{HttpHealthCheck: hc}
	}
	return []*corev3.HealthCheck{out}
}

// healthCheckMatchKey is the transport socket match label that only the
// health checks ask for (no endpoint carries it, so calls keep the
// cluster's own socket).
const healthCheckMatchKey = "milvus_edge_health_check"

func healthCheckMatch() *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{healthCheckMatchKey: structpb.NewBoolValue(true)}}
}

// buildHealthCheckTLS returns a TLS cluster's transport socket matches: one,
// picked only by the health checks' match criteria, with the cluster's TLS
// settings and ALPN h2. The cluster's own socket offers no ALPN list (the
// connection pool offers its protocol), but a health check connection
// offers nothing then, and gRPC servers built with recent grpc-go refuse
// TLS clients that do not negotiate h2 — a healthy TLS Milvus would fail
// its checks. Envoy uses a match whose labels are all in the endpoint's
// envoy.transport_socket_match metadata (or, for health checks, in
// transport_socket_match_criteria), else the cluster's transport_socket.
func buildHealthCheckTLS(c ir.Cluster) []*clusterv3.Cluster_TransportSocketMatch {
	if c.TLS == nil || c.Health.Check == nil {
		return nil
	}
	return []*clusterv3.Cluster_TransportSocketMatch{{
		Name:            "health_check_h2",
		Match:           healthCheckMatch(),
		TransportSocket: upstreamTLSSocket(c, []string{"h2"}),
	}}
}

func header(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// buildOutlierDetection ejects an endpoint after consecutive gateway errors
// only: connect failures, resets and timeouts (local-origin errors, which
// Envoy counts as 503 while split_external_local_origin_errors is off),
// and 502/503/504 answers — a gRPC UNAVAILABLE or DEADLINE_EXCEEDED sent as
// a trailers-only answer (how gRPC servers send an error without data)
// counts as 503/504 (the router maps grpc-status for outlier detection).
// Other 5xx (gRPC INTERNAL or UNKNOWN are 500) do not eject: one bad query
// must not take a backend out. Success-rate ejection needs 5 endpoints
// and 100 calls per sweep by default; it is turned off to stay predictable.
func buildOutlierDetection(c ir.Cluster) *clusterv3.OutlierDetection {
	o := c.Health.Outlier
	if o == nil {
		return nil
	}
	return &clusterv3.OutlierDetection{
		ConsecutiveGatewayFailure:          wrapperspb.UInt32(o.ConsecutiveGatewayErrors),
		EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(100),
		EnforcingConsecutive_5Xx:           wrapperspb.UInt32(0),
		EnforcingSuccessRate:               wrapperspb.UInt32(0),
		Interval:                           durationpb.New(outlierSweep),
		BaseEjectionTime:                   durationpb.New(o.EjectionTime),
		MaxEjectionTime:                    durationpb.New(maxEjectionFactor * o.EjectionTime),
		MaxEjectionPercent:                 wrapperspb.UInt32(o.MaxEjectionPercent),
	}
}

// buildCommonLbConfig sets the healthy panic threshold (0: panic mode off,
// calls go to healthy endpoints only).
func buildCommonLbConfig(c ir.Cluster) *clusterv3.Cluster_CommonLbConfig {
	return &clusterv3.Cluster_CommonLbConfig{
		HealthyPanicThreshold: &typev3.Percent{Value: float64(c.Health.PanicPercent)},
	}
}
