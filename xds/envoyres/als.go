package envoyres

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpclogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ALSLogName names the edge's access-log stream (the identifier Envoy sends
// with each stream).
const ALSLogName = "milvus_edge_metrics"

// buildMetricsAccessLog streams every call's access-log entry to the edge's
// filter server (AccessLogService), which counts it for GET /metrics: calls
// the filters never see are counted too, with Envoy's own view of the
// response. The entry carries the dynamic metadata (the facts ext_authz and
// the response handling put there, internal/edgemeta), the body sizes and
// durations, and grpc-status from the trailers (or the headers of a
// trailers-only answer).
//
// Envoy buffers entries per worker and sends them every second or when
// 16 KiB are pending, so a call costs Envoy a proto copy, not a gRPC
// message; the metrics lag the calls by up to a second.
func buildMetricsAccessLog() *accesslogv3.AccessLog {
	return &accesslogv3.AccessLog{
		Name: "envoy.access_loggers.http_grpc",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&grpclogv3.HttpGrpcAccessLogConfig{
			CommonConfig: &grpclogv3.CommonGrpcAccessLogConfig{
				LogName: ALSLogName,
				GrpcService: &corev3.GrpcService{
					TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: FilterCluster}},
				},
				TransportApiVersion: corev3.ApiVersion_V3,
				BufferFlushInterval: durationpb.New(1e9),
				BufferSizeBytes:     wrapperspb.UInt32(16 << 10),
			},
			AdditionalResponseHeadersToLog:  []string{"grpc-status"},
			AdditionalResponseTrailersToLog: []string{"grpc-status"},
		})},
	}
}
