package edgetrace

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// ExportEnvoySpans builds the server and upstream spans of a traced call
// from its access-log entry (an envoy.data.accesslog.v3.HTTPAccessLogEntry
// as Envoy streamed it; the caller saw edgemeta.TraceID in its metadata) and
// queues them for export. An entry without the span ids is skipped.
func (t *Tracer) ExportEnvoySpans(entry []byte) error {
	if t == nil {
		return nil
	}
	e := &accesslogdatav3.HTTPAccessLogEntry{}
	if err := proto.Unmarshal(entry, e); err != nil {
		return err
	}
	for _, s := range t.EnvoySpans(e) {
		t.bsp.OnEnd(s.Snapshot())
	}
	return nil
}

// EnvoySpans are the spans that stand for Envoy's work on a traced call,
// made from its access-log entry e with Envoy's own timings:
//   - S, the server span (the call as the client saw Envoy handle it),
//     named after the path as Envoy's tracer named it: from the entry's start
//     time (first byte received) to its last byte sent downstream; the
//     client's span is its parent when there was one;
//   - U, Envoy's upstream call, "router <cluster> egress", S's child: from
//     the first byte sent upstream to the last byte received from upstream
//     (absent when nothing was sent upstream: a call the edge refused).
//
// Their ids are those ext_authz chose (edgemeta.SpanID, UpstreamSpanID),
// so the edge's spans made during the call are already S's children and
// the backend already got U as its parent. Nil when e is not a traced call.
func (t *Tracer) EnvoySpans(e *accesslogdatav3.HTTPAccessLogEntry) []tracetest.SpanStub {
	cp, req, resp := e.GetCommonProperties(), e.GetRequest(), e.GetResponse()
	f := edgemeta.Read(cp.GetMetadata())
	tid, ok1 := traceIDOf(f.TraceID)
	sid, ok2 := spanIDOf(f.SpanID)
	if !ok1 || !ok2 {
		return nil
	}
	start := cp.GetStartTime().AsTime()
	last := cp.GetTimeToLastDownstreamTxByte()
	if last == nil {
		last = cp.GetDuration()
	}
	end := start.Add(last.AsDuration())
	sc := func(id trace.SpanID) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: id, TraceFlags: trace.FlagsSampled})
	}
	var parent trace.SpanContext
	if pid, ok := spanIDOf(f.ParentSpanID); ok {
		parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid, TraceFlags: trace.FlagsSampled, Remote: true})
	}
	httpCode := int64(resp.GetResponseCode().GetValue())
	grpcStatus, hasGRPC := resp.GetResponseTrailers()["grpc-status"]
	if !hasGRPC {
		grpcStatus, hasGRPC = resp.GetResponseHeaders()["grpc-status"]
	}
	path, _, _ := strings.Cut(req.GetPath(), "?")
	cluster := cp.GetUpstreamCluster()
	host := cp.GetUpstreamRemoteAddress().GetSocketAddress()
	upstream := ""
	if host != nil {
		upstream = host.GetAddress() + ":" + strconv.Itoa(int(host.GetPortValue()))
	}
	flags := responseFlags(cp.GetResponseFlags())

	attrs := []attribute.KeyValue{
		attribute.String("component", "proxy"),
		attribute.String("http.method", req.GetRequestMethod().String()),
		attribute.String("http.url", req.GetAuthority()+req.GetPath()),
		attribute.String("http.protocol", e.GetProtocolVersion().String()),
		attribute.String("guid:x-request-id", req.GetRequestId()),
		attribute.String("user_agent", req.GetUserAgent()),
		attribute.Int64("request_size", int64(req.GetRequestBodyBytes())),
		attribute.Int64("response_size", int64(resp.GetResponseBodyBytes())),
		attribute.Int64("http.status_code", httpCode),
		attribute.String("response_flags", flags),
	}
	if a := cp.GetDownstreamRemoteAddress().GetSocketAddress(); a != nil {
		attrs = append(attrs, attribute.String("peer.address", a.GetAddress()))
	}
	if hasGRPC {
		attrs = append(attrs, attribute.String("grpc.path", path), attribute.String("grpc.status_code", grpcStatus))
	}
	if cluster != "" {
		attrs = append(attrs, attribute.String("upstream_cluster", cluster))
	}
	if upstream != "" {
		attrs = append(attrs, attribute.String("upstream_address", upstream))
	}
	if f.HasCode {
		attrs = append(attrs, attribute.Int64("milvus.code", f.Code))
		if f.ErrorCode != 0 {
			attrs = append(attrs, attribute.Int64("milvus.error_code", f.ErrorCode))
		}
	}
	if f.Reason != "" {
		attrs = append(attrs, attribute.String("milvus.reason", f.Reason))
	}
	if f.Refused != "" {
		attrs = append(attrs, attribute.String("milvus_edge.refused", f.Refused))
	}
	status := sdktrace.Status{Code: otelcodes.Unset}
	switch {
	case httpCode >= 500 || httpCode == 0:
		status = sdktrace.Status{Code: otelcodes.Error, Description: "HTTP " + strconv.FormatInt(httpCode, 10) + " " + flags}
	case hasGRPC && grpcStatus != "0":
		status = sdktrace.Status{Code: otelcodes.Error, Description: "grpc-status " + grpcStatus}
	case !f.MilvusOK():
		status = sdktrace.Status{Code: otelcodes.Error, Description: "Milvus code " + strconv.FormatInt(f.Code, 10) + ": " + f.Reason}
	}
	scope := instrumentation.Scope{Name: scopeName}
	name := path
	if name == "" {
		name = "ingress"
	}
	spans := []tracetest.SpanStub{{
		Name:                 name,
		SpanContext:          sc(sid),
		Parent:               parent,
		SpanKind:             trace.SpanKindServer,
		StartTime:            start,
		EndTime:              end,
		Attributes:           attrs,
		Status:               status,
		Resource:             t.envoy,
		InstrumentationScope: scope,
	}}

	uid, ok := spanIDOf(f.UpstreamSpanID)
	first := cp.GetTimeToFirstUpstreamTxByte()
	if !ok || first == nil {
		return spans
	}
	uEnd := end
	if rx := cp.GetTimeToLastUpstreamRxByte(); rx != nil {
		uEnd = start.Add(rx.AsDuration())
	}
	uAttrs := []attribute.KeyValue{
		attribute.String("component", "proxy"),
		attribute.String("upstream_cluster", cluster),
		attribute.String("upstream_address", upstream),
		attribute.Int64("http.status_code", httpCode),
	}
	if hasGRPC {
		uAttrs = append(uAttrs, attribute.String("grpc.status_code", grpcStatus))
	}
	uStatus := sdktrace.Status{Code: otelcodes.Unset}
	if httpCode >= 500 || httpCode == 0 || (hasGRPC && grpcStatus != "0") {
		uStatus = status
	}
	return append(spans, tracetest.SpanStub{
		Name:                 "router " + cluster + " egress",
		SpanContext:          sc(uid),
		Parent:               sc(sid),
		SpanKind:             trace.SpanKindClient,
		StartTime:            start.Add(first.AsDuration()),
		EndTime:              maxTime(uEnd, start.Add(first.AsDuration())),
		Attributes:           uAttrs,
		Status:               uStatus,
		Resource:             t.envoy,
		InstrumentationScope: scope,
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func traceIDOf(s string) (trace.TraceID, bool) {
	var id trace.TraceID
	if len(s) != 32 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err == nil && id.IsValid()
}

func spanIDOf(s string) (trace.SpanID, bool) {
	var id trace.SpanID
	if len(s) != 16 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(s))
	return id, err == nil && id.IsValid()
}

// responseFlags is Envoy's %RESPONSE_FLAGS% of the entry: the short codes,
// comma-separated, "-" for none.
func responseFlags(f *accesslogdatav3.ResponseFlags) string {
	if f == nil {
		return "-"
	}
	var out []string
	for _, x := range []struct {
		set  bool
		code string
	}{
		{f.GetFailedLocalHealthcheck(), "LH"}, {f.GetNoHealthyUpstream(), "UH"}, {f.GetUpstreamRequestTimeout(), "UT"},
		{f.GetLocalReset(), "LR"}, {f.GetUpstreamRemoteReset(), "UR"}, {f.GetUpstreamConnectionFailure(), "UF"},
		{f.GetUpstreamConnectionTermination(), "UC"}, {f.GetUpstreamOverflow(), "UO"}, {f.GetNoRouteFound(), "NR"},
		{f.GetDelayInjected(), "DI"}, {f.GetFaultInjected(), "FI"}, {f.GetRateLimited(), "RL"},
		{f.GetUnauthorizedDetails() != nil, "UAEX"}, {f.GetRateLimitServiceError(), "RLSE"},
		{f.GetDownstreamConnectionTermination(), "DC"}, {f.GetUpstreamRetryLimitExceeded(), "URX"},
		{f.GetStreamIdleTimeout(), "SI"}, {f.GetInvalidEnvoyRequestHeaders(), "IH"}, {f.GetDownstreamProtocolError(), "DPE"},
		{f.GetUpstreamMaxStreamDurationReached(), "UMSDR"}, {f.GetResponseFromCacheFilter(), "RFCF"},
		{f.GetNoFilterConfigFound(), "NFCF"}, {f.GetDurationTimeout(), "DT"}, {f.GetUpstreamProtocolError(), "UPE"},
		{f.GetNoClusterFound(), "NC"}, {f.GetOverloadManager(), "OM"}, {f.GetDnsResolutionFailure(), "DF"},
		{f.GetDownstreamRemoteReset(), "DR"},
	} {
		if x.set {
			out = append(out, x.code)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}
