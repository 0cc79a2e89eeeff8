package envoyres

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	grpclogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// ALSLogName names the edge's access-log stream (the identifier Envoy sends
// with each stream).
const ALSLogName = "milvus_edge_metrics"

// buildAccessLogs returns the listener's access logs: the JSON file, and
// the stream of calls to the edge.
func buildAccessLogs(l ir.Listener) []*accesslogv3.AccessLog {
	logs := buildAccessLog(l.AccessLog)
	if l.CallStream != ir.StreamNone {
		logs = append(logs, buildCallStream(l.CallStream))
	}
	return logs
}

// buildCallStream streams every call's access-log entry to the edge's
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
//
// With the metrics off and tracing on (ir.StreamTraced) a filter keeps only
// the calls ext_authz traced (edgemeta.TraceID in its metadata): Envoy's
// filter looks the key up for every call and builds an entry for those alone.
func buildCallStream(s ir.CallStream) *accesslogv3.AccessLog {
	var filter *accesslogv3.AccessLogFilter
	if s == ir.StreamTraced {
		filter = &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{
			MetadataFilter: &accesslogv3.MetadataFilter{
				Matcher: &matcherv3.MetadataMatcher{
					Filter: edgemeta.AuthzNamespace,
					Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: edgemeta.TraceID}}},
					Value:  &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_PresentMatch{PresentMatch: true}},
				},
				MatchIfKeyNotFound: wrapperspb.Bool(false),
			},
		}}
	}
	return &accesslogv3.AccessLog{
		Filter: filter,
		Name:   "envoy.access_loggers.http_grpc",
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
