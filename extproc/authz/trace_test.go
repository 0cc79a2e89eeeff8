package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/policy"
)

// spanningPre stands in for ext_proc's Preprocess and records a span as
// extproc's validation does.
type spanningPre struct{ tr *edgetrace.Tracer }

func (p spanningPre) Preprocess(ctx context.Context, _ bool, _, _, _ string, _ []byte, _ proto.Message) []*corev3.HeaderValueOption {
	_, span := p.tr.Start(ctx, "validation", trace.SpanKindInternal)
	span.End()
	return nil
}

func headerOf(resp *authv3.CheckResponse, key string) (string, bool) {
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == key {
			return h.GetHeader().GetValue(), true
		}
	}
	return "", false
}

// TestTracedCheck: ext_authz decides what is traced. A client's sampled
// traceparent is continued (the server span S under the client's span,
// ext_authz under S, policy and the preprocessor's validation under
// ext_authz), a call without one starts a trace at sampling 1; a traced call
// has its trace id in the decision log and the facts (with S, U and the
// client's span), the backend's traceparent names U and ext_proc's header
// names S. An unsampled traceparent, and no traceparent at sampling 0, trace
// nothing and change no header.
func TestTracedCheck(t *testing.T) {
	const client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
	for _, tc := range []struct {
		name, traceparent string
		sampling          float64
		traced, child     bool
	}{
		{"client sampled", client + "01", 0, true, true},
		{"client unsampled", client + "00", 1, false, false},
		{"new trace", "", 1, true, false},
		{"invalid traceparent: a new trace", "00-xyz", 1, true, false},
		{"sampling 0", "", 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tr := edgetrace.WithExporter(exp, "milvus-edge", nil)
			var log bytes.Buffer
			s := newServer(t, &fakePolicy{d: policy.Decision{Allow: true}}, Options{Metadata: true, SinglePass: true, TraceSampling: tc.sampling}, &log)
			s.UseTracer(tr)
			s.UsePreprocessor(spanningPre{tr})
			req := checkReq("application/grpc", b64("root:Milvus"), searchPath, framed(t, &milvuspb.SearchRequest{CollectionName: "docs"}))
			if tc.traceparent != "" {
				req.Attributes.Request.Http.Headers["traceparent"] = tc.traceparent
			}
			resp, err := s.Check(context.Background(), req)
			if err != nil || resp.GetStatus().GetCode() != 0 {
				t.Fatalf("check: %v %v", resp.GetStatus(), err)
			}
			s.dlog.Close()
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var rec DecisionRecord
			if err := json.Unmarshal(log.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			md := resp.GetDynamicMetadata().GetFields()
			tid, sid, uid := md[edgemeta.TraceID].GetStringValue(), md[edgemeta.SpanID].GetStringValue(), md[edgemeta.UpstreamSpanID].GetStringValue()
			up, hasUp := headerOf(resp, "traceparent")
			hand, hasHand := headerOf(resp, edgehdr.Trace)
			spans := exp.GetSpans()
			if !tc.traced {
				if len(spans) != 0 || rec.TraceID != "" || tid != "" || hasUp || hasHand {
					t.Errorf("untraced: %d spans, decision trace_id %q, metadata %q, traceparent %q, %s %q", len(spans), rec.TraceID, tid, up, edgehdr.Trace, hand)
				}
				return
			}
			if len(tid) != 32 || len(sid) != 16 || len(uid) != 16 || sid == uid || rec.TraceID != tid {
				t.Fatalf("decision trace_id %q, metadata trace %q S %q U %q", rec.TraceID, tid, sid, uid)
			}
			if tc.child && (tid != "0af7651916cd43dd8448eb211c80319c" || md[edgemeta.ParentSpanID].GetStringValue() != "b7ad6b7169203331") {
				t.Errorf("not the client's trace: %q, parent %q", tid, md[edgemeta.ParentSpanID].GetStringValue())
			}
			if !tc.child && md[edgemeta.ParentSpanID] != nil {
				t.Errorf("a new trace with a parent %v", md[edgemeta.ParentSpanID])
			}
			if up != "00-"+tid+"-"+uid+"-01" || hand != "00-"+tid+"-"+sid+"-01" {
				t.Errorf("backend traceparent %q, %s %q", up, edgehdr.Trace, hand)
			}
			byName := map[string]tracetest.SpanStub{}
			for _, sp := range spans {
				byName[sp.Name] = sp
			}
			authz := byName["ext_authz"]
			if authz.Parent.SpanID().String() != sid || authz.SpanContext.TraceID().String() != tid || authz.SpanKind != trace.SpanKindServer {
				t.Errorf("ext_authz: parent %v, kind %v; want S %s", authz.Parent, authz.SpanKind, sid)
			}
			for _, child := range []string{"policy", "validation"} {
				if byName[child].Parent.SpanID() != authz.SpanContext.SpanID() {
					t.Errorf("%s: parent %v, want ext_authz", child, byName[child].Parent)
				}
			}
			attrs := map[string]string{}
			for _, a := range authz.Attributes {
				attrs[string(a.Key)] = a.Value.Emit()
			}
			if attrs["milvus.api"] != "Search" || attrs["milvus_edge.user"] != "root" || attrs["milvus_edge.decision_id"] != rec.DecisionID {
				t.Errorf("ext_authz attributes %v", attrs)
			}
		})
	}
}

// TestTracedDenial: a call refused at the edge carries its trace in the
// facts too (the edge makes S from its access-log entry), and no headers.
func TestTracedDenial(t *testing.T) {
	tr := edgetrace.WithExporter(tracetest.NewInMemoryExporter(), "milvus-edge", nil)
	s := newServer(t, &fakePolicy{d: policy.Decision{Reason: "no"}}, Options{Metadata: true, TraceSampling: 1}, nil)
	s.UseTracer(tr)
	resp, err := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})))
	if err != nil || resp.GetDeniedResponse() == nil {
		t.Fatalf("check: %v %v", resp, err)
	}
	f, err := DecodeStruct(resp.GetDynamicMetadata())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetFields(); got[edgemeta.TraceID] == nil || got[edgemeta.SpanID] == nil || got[edgemeta.Refused].GetStringValue() != edgemeta.RefusedPolicy || got[edgemeta.API].GetStringValue() != "Search" {
		t.Errorf("facts %v", got)
	}
}
