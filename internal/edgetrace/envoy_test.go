package edgetrace

import (
	"context"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// entry is a traced Search's access-log entry as Envoy streams it.
func entry(t *testing.T, c Call, start time.Time, upstream bool) *accesslogdatav3.HTTPAccessLogEntry {
	t.Helper()
	facts := map[string]any{edgemeta.API: "Search", edgemeta.TraceID: c.Trace.String(), edgemeta.SpanID: c.Server.String(),
		edgemeta.UpstreamSpanID: c.Upstream.String()}
	if c.Parent.IsValid() {
		facts[edgemeta.ParentSpanID] = c.Parent.String()
	}
	authz, err := structpb.NewStruct(facts)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := structpb.NewStruct(map[string]any{edgemeta.Code: 0})
	cp := &accesslogdatav3.AccessLogCommon{
		StartTime:                  timestamppb.New(start),
		TimeToLastDownstreamTxByte: durationpb.New(5 * time.Millisecond),
		Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			edgemeta.AuthzNamespace: authz, edgemeta.ResponseNamespace: resp}},
		DownstreamRemoteAddress: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "10.0.0.9"}}},
	}
	if upstream {
		cp.TimeToFirstUpstreamTxByte = durationpb.New(time.Millisecond)
		cp.TimeToLastUpstreamRxByte = durationpb.New(4 * time.Millisecond)
		cp.UpstreamCluster = "default"
		cp.UpstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 19530}}}}
	} else {
		cp.ResponseFlags = &accesslogdatav3.ResponseFlags{UnauthorizedDetails: &accesslogdatav3.ResponseFlags_Unauthorized{}}
	}
	grpcStatus := "0"
	if !upstream {
		grpcStatus = "7"
	}
	return &accesslogdatav3.HTTPAccessLogEntry{
		CommonProperties: cp,
		ProtocolVersion:  accesslogdatav3.HTTPAccessLogEntry_HTTP2,
		Request: &accesslogdatav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_POST,
			Path: "/milvus.proto.milvus.MilvusService/Search", RequestBodyBytes: 120},
		Response: &accesslogdatav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200), ResponseBodyBytes: 300,
			ResponseTrailers: map[string]string{"grpc-status": grpcStatus}},
	}
}

// TestEnvoySpans: a traced call's access-log entry becomes S (the server
// span, under the client's span, from the start to the last byte sent) and
// U (the upstream call, S's child, from the first byte sent upstream to the
// last received), with the ids ext_authz chose and Envoy's service name; a
// refused call has S only, as an error.
func TestEnvoySpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := WithExporter(exp, "milvus-edge", nil)
	c, _ := Decide(sampled, 0)
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b, err := proto.Marshal(entry(t, c, start, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.ExportEnvoySpans(b); err != nil {
		t.Fatal(err)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want S and U", len(spans))
	}
	s, u := spans[0], spans[1]
	attrs := func(st tracetest.SpanStub) map[string]string {
		m := map[string]string{}
		for _, a := range st.Attributes {
			m[string(a.Key)] = a.Value.Emit()
		}
		return m
	}
	if s.Name != "/milvus.proto.milvus.MilvusService/Search" || s.SpanContext.SpanID() != c.Server || s.SpanContext.TraceID() != c.Trace ||
		s.Parent.SpanID() != c.Parent || s.SpanKind != trace.SpanKindServer || !s.StartTime.Equal(start) || s.EndTime.Sub(s.StartTime) != 5*time.Millisecond {
		t.Errorf("S: %s %v parent %v kind %v %v..%v", s.Name, s.SpanContext, s.Parent, s.SpanKind, s.StartTime, s.EndTime)
	}
	if a := attrs(s); a["grpc.status_code"] != "0" || a["http.status_code"] != "200" || a["upstream_cluster"] != "default" ||
		a["upstream_address"] != "127.0.0.1:19530" || a["milvus.code"] != "0" || a["response_flags"] != "-" || a["grpc.path"] != "/milvus.proto.milvus.MilvusService/Search" {
		t.Errorf("S attributes %v", a)
	}
	if sn, _ := s.Resource.Set().Value("service.name"); sn.AsString() != "milvus-edge-envoy" {
		t.Errorf("S service.name %q", sn.AsString())
	}
	if u.Name != "router default egress" || u.SpanContext.SpanID() != c.Upstream || u.Parent.SpanID() != c.Server || u.SpanKind != trace.SpanKindClient ||
		u.StartTime.Sub(start) != time.Millisecond || u.EndTime.Sub(start) != 4*time.Millisecond {
		t.Errorf("U: %s %v parent %v kind %v %v..%v", u.Name, u.SpanContext, u.Parent, u.SpanKind, u.StartTime, u.EndTime)
	}

	// A new trace (no client span), refused at the edge: S only, a root, an error.
	c, _ = Decide("", 1)
	spans2 := tr.EnvoySpans(entry(t, c, start, false))
	if len(spans2) != 1 || spans2[0].Parent.IsValid() || spans2[0].Status.Code != codes.Error || attrs(spans2[0])["response_flags"] != "UAEX" {
		t.Errorf("refused call's spans %+v", spans2)
	}
	// An untraced entry makes none.
	e := entry(t, c, start, true)
	e.CommonProperties.Metadata = nil
	if got := tr.EnvoySpans(e); got != nil {
		t.Errorf("untraced entry: %d spans", len(got))
	}
}
