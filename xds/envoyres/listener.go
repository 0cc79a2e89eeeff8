// Package envoyres builds Envoy resources from the xds/ir model: small build*
// functions, one per resource or filter. No other package constructs Envoy
// listeners, clusters, routes or filters.
package envoyres

import (
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filelogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlyhdrv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Names of the resources the edge pushes.
const (
	ListenerName    = "milvus"
	RouteConfigName = "milvus"
	FilterCluster   = "milvus_edge_filters"
	ExtAuthzName    = "envoy.filters.http.ext_authz"
	ExtProcName     = "envoy.filters.http.ext_proc"
)

// buildListener returns the client listener: one HTTP connection manager with
// codec AUTO (gRPC over h2c and REST over HTTP/1.1 on one port, or both over
// TLS with ALPN h2 and http/1.1), internal headers stripped before any
// filter, then the calls filter (the response's status, the call counted) → ext_authz →
// ext_proc → router.
func buildListener(g *ir.Gateway) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: "milvus",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: RouteConfigName,
		}},
		// Milvus clients keep long-lived HTTP/2 connections with keepalive pings.
		Http2ProtocolOptions:          buildDownstreamHTTP2(g.Listener.MaxRequestBytes),
		EarlyHeaderMutationExtensions: []*corev3.TypedExtensionConfig{buildStripInternalHeaders()},
		// The caller is the connection's peer, never what a client writes in
		// X-Forwarded-For: the address the login guard backs off by, the
		// policy's input.source, the decision and access logs' client (with
		// Envoy's default, the stream's address is XFF's last entry, which
		// the in-process filter would read). Milvus gets no XFF added.
		UseRemoteAddress: wrapperspb.Bool(true),
		SkipXffAppend:    true,
		AccessLog:        buildAccessLogs(g.Listener),
		LocalReplyConfig: buildRESTLocalReply(),
	}
	// The response's Milvus status is read only for a log that prints or
	// counts it: the access log, the metrics, Envoy's spans.
	if c := g.Listener.Calls; c != nil {
		hcm.HttpFilters = append(hcm.HttpFilters, httpFilter(CallsName, buildCalls(c)))
	}
	authz := httpFilter(ExtAuthzName, buildExtAuthz(g.Filters, g.Listener.TLS))
	if m := g.Filters.InProcess; m != nil {
		authz = httpFilter(InProcessName, buildInProcess(m))
	}
	hcm.HttpFilters = append(hcm.HttpFilters,
		authz,
		httpFilter(ExtProcName, buildExtProc(g.Filters)),
		httpFilter("envoy.filters.http.router", &routerv3.Router{}),
	)
	chain := &listenerv3.FilterChain{
		Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}},
	}
	l := &listenerv3.Listener{
		Name:    ListenerName,
		Address: socketAddress(g.Listener.Address),
		// ext_proc buffers whole request bodies; this bounds one body.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(g.Listener.MaxRequestBytes),
		// Milvus clients hold a few long-lived HTTP/2 connections; left to the
		// kernel (SO_REUSEPORT hashing) they often land on one worker while
		// another idles. Exact balance spreads them evenly over the workers.
		ConnectionBalanceConfig: &listenerv3.Listener_ConnectionBalanceConfig{
			BalanceType: &listenerv3.Listener_ConnectionBalanceConfig_ExactBalance_{ExactBalance: &listenerv3.Listener_ConnectionBalanceConfig_ExactBalance{}},
		},
		FilterChains: []*listenerv3.FilterChain{chain},
	}
	if g.Listener.TLS != nil {
		// TLS clients get the Milvus chain; plaintext ones an explanation.
		chain.Name = "tls"
		chain.FilterChainMatch = &listenerv3.FilterChainMatch{TransportProtocol: "tls"}
		chain.TransportSocket = buildDownstreamTLS(g.Listener.TLS)
		l.ListenerFilters = []*listenerv3.ListenerFilter{buildTLSInspector()}
		l.DefaultFilterChain = buildPlaintextRefusal()
	}
	return l
}

// buildStripInternalHeaders removes client-supplied copies of the edge's own
// headers before route selection and before any filter sees the request.
func buildStripInternalHeaders() *corev3.TypedExtensionConfig {
	hm := &earlyhdrv3.HeaderMutation{}
	for _, h := range edgehdr.Internal {
		hm.Mutations = append(hm.Mutations, &mutationv3.HeaderMutation{
			Action: &mutationv3.HeaderMutation_Remove{Remove: h},
		})
	}
	return &corev3.TypedExtensionConfig{
		Name:        "envoy.http.early_header_mutation.header_mutation",
		TypedConfig: mustAny(hm),
	}
}

// buildRESTLocalReply gives REST v2 callers Milvus's JSON {code, message}
// when Envoy itself answers because the backend failed at the transport
// level, instead of Envoy's plain text ("upstream connect error or disconnect/
// reset before headers ..."). Only local replies carrying an upstream response
// flag on a /v2/vectordb/ path are touched: gRPC calls keep Envoy's
// grpc-status mapping (UNAVAILABLE), and the edge's own REST answers
// (ext_authz denials, flagged UAEX; ext_proc refusals; the rest: false
// direct response) already have the shape and carry no such flag.
//
// The HTTP status stays Envoy's 502/503/504: Milvus's REST server also
// leaves 200 for answers of its handlers (its own request timeout is HTTP 408
// with code 10001), and the status tells load balancers and metrics that a
// gateway, not Milvus, failed. The code says whether a retry is safe:
//   - 2, merr.ErrServiceUnavailable (retriable): the call never reached a
//     backend (connect failure after the route's retries, no healthy or no
//     free endpoint, no cluster, DNS failure);
//   - 65535, Milvus's code for an unexpected error: the connection broke after
//     the call was sent (reset, termination, protocol error), so a write may
//     or may not have been applied;
//   - 10001, merr.TimeoutCode, as Milvus's REST timeout: no answer in time.
//
// The message names what failed and ends with Envoy's response code details
// (e.g. upstream_reset_before_response_started{remote_connection_failure...}).
func buildRESTLocalReply() *hcmv3.LocalReplyConfig {
	mapper := func(code float64, msg string, flags ...string) *hcmv3.ResponseMapper {
		body, _ := structpb.NewStruct(map[string]any{ // plain values cannot fail
			"code":    code,
			"message": msg + ": %RESPONSE_CODE_DETAILS%",
		})
		return &hcmv3.ResponseMapper{
			Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{
				Filters: []*accesslogv3.AccessLogFilter{
					{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{
						Header: &routev3.HeaderMatcher{
							Name: ":path",
							HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
								MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: RESTPrefix},
							}},
						},
					}}},
					{FilterSpecifier: &accesslogv3.AccessLogFilter_ResponseFlagFilter{ResponseFlagFilter: &accesslogv3.ResponseFlagFilter{Flags: flags}}},
				},
			}}},
			BodyFormatOverride: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: body},
			},
		}
	}
	// The first matching mapper answers. A read may be retried after it was
	// sent (docs/failover.md), so retries exhausted (URX) after a try broke
	// mid-call (UC, UR, UPE) is "outcome unknown", not "not sent".
	return &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{
		mapper(65535, "the Milvus backend connection failed during the request, its outcome is unknown", "UC", "UR", "UPE"),
		mapper(2, "no Milvus backend reachable, the request was not sent", "UF", "URX", "UH", "UO", "NC", "DF"),
		mapper(10001, "request timeout: the Milvus backend did not answer in time", "UT", "UMSDR"),
	}}
}

// buildExtAuthz calls the edge's ext_authz server for every request with a
// prefix of the body (raw protobuf bytes; names, limits and output fields come
// before large payloads). It fails closed: an unreachable, slow or erroring
// server yields 503, which gRPC clients see as UNAVAILABLE.
func buildExtAuthz(f ir.FilterServer, t *ir.ListenerTLS) *extauthzv3.ExtAuthz {
	return &extauthzv3.ExtAuthz{
		Services:            &extauthzv3.ExtAuthz_GrpcService{GrpcService: filterService(f.Timeout)},
		TransportApiVersion: corev3.ApiVersion_V3,
		FailureModeAllow:    false,
		// The edge sets the route key for calls it fully checked (single pass).
		ClearRouteCache: true,
		StatusOnError:   &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		WithRequestBody: &extauthzv3.BufferSettings{
			MaxRequestBytes:     f.AuthzBodyBytes,
			AllowPartialMessage: true,
			PackAsBytes:         true,
		},
		// On a mutual-TLS listener the server also gets the verified client
		// certificate (PEM) to read the caller's identity from; a SPIFFE URI
		// comes in the source principal either way.
		IncludePeerCertificate: t != nil && len(t.ClientCA) > 0,
		AllowedHeaders:         buildAllowedHeaders(f.AuthzHeaders),
	}
}

// buildAccessLog writes one JSON line per request with what Milvus's own
// access log says (README, "Access log"): who called what (ext_authz's facts
// in its dynamic metadata, internal/edgemeta), the Milvus status of the
// response (the calls filter, buildCalls), who refused it at the edge, gRPC and HTTP
// status, bytes, durations, the trace id, and where it went — the route, the
// cluster and its forwarding mode (the cluster's metadata,
// buildClusterMetadata). A fact that does not apply is null.
func buildAccessLog(path string) []*accesslogv3.AccessLog {
	if path == "" {
		return nil
	}
	authz := func(key string) string { return "%DYNAMIC_METADATA(" + edgemeta.AuthzNamespace + ":" + key + ")%" }
	resp := func(key string) string { return "%DYNAMIC_METADATA(" + edgemeta.ResponseNamespace + ":" + key + ")%" }
	format, _ := structpb.NewStruct(map[string]any{ // string values cannot fail
		"time":        "%START_TIME%",
		"client":      "%DOWNSTREAM_REMOTE_ADDRESS%",
		"user":        authz(edgemeta.User),
		"surface":     authz(edgemeta.Surface),
		"api":         authz(edgemeta.API),
		"db":          authz(edgemeta.DB),
		"collection":  authz(edgemeta.Collection),
		"partition":   authz(edgemeta.Partition),
		"nq":          authz(edgemeta.NQ),
		"topk":        authz(edgemeta.TopK),
		"num_rows":    authz(edgemeta.Rows),
		"milvus_code": resp(edgemeta.Code),
		"error_code":  resp(edgemeta.ErrorCode),
		"reason":      resp(edgemeta.Reason),
		"refused":     authz(edgemeta.Refused),
		"grpc_status": "%GRPC_STATUS(NUMBER)%",
		"http_status": "%RESPONSE_CODE%",
		"bytes_in":    "%BYTES_RECEIVED%",
		"bytes_out":   "%BYTES_SENT%",
		"duration_ms": "%DURATION%",
		// From the first byte sent upstream to the last byte received.
		"upstream_ms": "%COMMON_DURATION(US_TX_BEG:US_RX_END:ms)%",
		"decision_id": authz(edgemeta.DecisionID),
		"trace_id":    authz(edgemeta.TraceID), // the W3C trace id of a traced call (ext_authz decides); null otherwise
		"route":       "%ROUTE_NAME%",
		"cluster":     "%UPSTREAM_CLUSTER%",
		"upstream":    "%UPSTREAM_HOST%",
		"forward":     "%CLUSTER_METADATA(milvus_edge:forward)%", // passthrough or service; null: no cluster reached
		"route_key":   "%REQ(X-MILVUS-EDGE-ROUTE)%",
		"class":       "%REQ(X-MILVUS-EDGE-CLASS)%", // read, write or other (docs/failover.md)
		"request_id":  "%REQ(X-REQUEST-ID)%",
		"path":        "%REQ(:PATH)%",
		"protocol":    "%PROTOCOL%",
		"flags":       "%RESPONSE_FLAGS%",
	})
	return []*accesslogv3.AccessLog{{
		Name: "envoy.access_loggers.file",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filelogv3.FileAccessLog{
			Path: path,
			AccessLogFormat: &filelogv3.FileAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
				Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: format},
			}},
		})},
	}}
}

// buildExtProc sends request headers and the buffered request body to the
// edge's ext_proc server, which decodes the Milvus request and sets the route
// key. Responses are not sent.
func buildExtProc(f ir.FilterServer) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService:      filterService(f.Timeout),
		FailureModeAllow: false,
		// A dead or failing filter server is UNAVAILABLE to gRPC clients (retryable),
		// as with ext_authz, not Envoy's default 500 (UNKNOWN).
		StatusOnError: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SKIP,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		MessageTimeout: durationpb.New(f.Timeout),
		// The server asks for DDL responses only (to invalidate its schema cache).
		AllowModeOverride: true,
		// The server adds to the call's facts, beside ext_authz's: its
		// refusals (edgemeta.Refused "validation") and the num_rows of inserts
		// larger than ext_authz's prefix. It may write there only.
		MetadataOptions: &extprocv3.MetadataOptions{
			ReceivingNamespaces: &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{edgemeta.AuthzNamespace}},
		},
	}
}

func filterService(timeout time.Duration) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: FilterCluster}},
		Timeout:         durationpb.New(timeout),
	}
}

func httpFilter(name string, cfg proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)}}
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

func socketAddress(a ir.Address) *corev3.Address {
	if a.Pipe != "" {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: a.Pipe}}}
	}
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       a.Host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: a.Port},
	}}}
}

// mustAny packs m deterministically (map fields sorted, e.g. the access log's
// JSON format), so the snapshot's content hash is the same for the same
// config. Packing a generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic("envoyres: packing " + string(proto.MessageName(m)) + ": " + err.Error())
	}
	return a
}

// buildDownstreamHTTP2 sizes the client-facing HTTP/2 codec. For HTTP/2 the
// stream window is also the limit of every L7 buffer of a stream (Envoy's
// flow control), and ext_proc buffers whole request bodies: with Envoy 1.40's
// default 16 MiB window a 17 MB insert got Envoy's own 413 "Payload Too
// Large". The window is the largest request plus room for the frame prefix,
// so every body up to listener.max_request_bytes is buffered and checked
// (larger ones are refused by the edge with Milvus's size-limit answer
// before they are buffered).
func buildDownstreamHTTP2(maxRequest uint32) *corev3.Http2ProtocolOptions {
	window := min(uint64(maxRequest)+1<<20, 1<<31-1) // the protocol's largest window
	return &corev3.Http2ProtocolOptions{
		MaxConcurrentStreams:        wrapperspb.UInt32(1024),
		InitialStreamWindowSize:     wrapperspb.UInt32(uint32(window)),
		InitialConnectionWindowSize: wrapperspb.UInt32(uint32(window)),
	}
}
