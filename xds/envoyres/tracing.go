package envoyres

import (
	"math"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	samplersv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/tracers/opentelemetry/samplers/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// OTLPCluster is the cluster Envoy sends its spans to (tracing.otlp_endpoint).
const OTLPCluster = "milvus_edge_otlp"

// buildTracing turns on Envoy's OpenTelemetry tracer for the client
// listener; nil (no tracing) when t is nil. Envoy accepts the client's W3C
// traceparent (its sampled flag decides, as the OpenTelemetry tracer follows
// its parent) or starts a trace, sampled for random_sampling percent of the
// calls. Each traced call gets Envoy's server span, a child span per
// ext_authz and ext_proc gRPC call (Envoy's async gRPC client, which also
// sends that span's traceparent to the edge's filter server), and an
// upstream span per try (spawn_upstream_span) whose context goes to Milvus.
func buildTracing(t *ir.Tracing) *hcmv3.HttpConnectionManager_Tracing {
	if t == nil {
		return nil
	}
	otel := &tracev3.OpenTelemetryConfig{
		GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: OTLPCluster}},
			Timeout:         durationpb.New(5 * time.Second),
		},
		ServiceName: t.ServiceName,
		Sampler:     buildSampler(t.SamplingPercent),
	}
	return &hcmv3.HttpConnectionManager_Tracing{
		// Every call passes the connection manager's own decision; the
		// tracer's sampler (buildSampler) decides. Envoy 1.40 traces a call
		// only when both say yes, so a random_sampling below 100 % would
		// also refuse clients' sampled traceparents.
		RandomSampling:    &typev3.Percent{Value: 100},
		SpawnUpstreamSpan: wrapperspb.Bool(true),
		// The server span is named after the call (gRPC method or REST
		// path), not Envoy's default "ingress".
		Operation: "%REQ(:PATH)%",
		Provider: &tracev3.Tracing_Http{
			Name:       "envoy.tracers.opentelemetry",
			ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(otel)},
		},
	}
}

// buildSampler is the OpenTelemetry tracer's sampler: parent-based, as the
// OpenTelemetry SDKs default to — a call with a traceparent follows its
// sampled flag (a client's or an upstream proxy's decision), one without is
// sampled for percent of trace ids (0..100, in millionths).
func buildSampler(percent float64) *corev3.TypedExtensionConfig {
	ratio := &samplersv3.TraceIdRatioBasedSamplerConfig{SamplingPercentage: &typev3.FractionalPercent{
		Numerator:   uint32(math.Round(percent * 10_000)),
		Denominator: typev3.FractionalPercent_MILLION,
	}}
	return &corev3.TypedExtensionConfig{
		Name: "envoy.tracers.opentelemetry.samplers.parent_based",
		TypedConfig: mustAny(&samplersv3.ParentBasedSamplerConfig{WrappedSampler: &corev3.TypedExtensionConfig{
			Name:        "envoy.tracers.opentelemetry.samplers.trace_id_ratio_based",
			TypedConfig: mustAny(ratio),
		}}),
	}
}

// buildOTLPCluster is how Envoy reaches the OTLP/gRPC collector: HTTP/2, a
// name resolved by DNS or an IP.
func buildOTLPCluster(t *ir.Tracing) *clusterv3.Cluster {
	return grpcServiceCluster(OTLPCluster, t.Collector, &corev3.Http2ProtocolOptions{})
}
