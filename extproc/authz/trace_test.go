package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

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

// TestTracedCheck: a call whose traceparent Envoy sampled gets the
// ext_authz span (a child of Envoy's span) with policy and the
// preprocessor's validation under it, and its trace id in the decision log
// and in ext_authz's dynamic metadata; an unsampled call gets none of them.
func TestTracedCheck(t *testing.T) {
	const envoySpan = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-"
	for _, sampled := range []bool{true, false} {
		exp := tracetest.NewInMemoryExporter()
		tr := edgetrace.WithExporter(exp, "milvus-edge", nil)
		var log bytes.Buffer
		s := newServer(t, &fakePolicy{d: policy.Decision{Allow: true}}, Options{Metadata: true, SinglePass: true}, &log)
		s.UseTracer(tr)
		s.UsePreprocessor(spanningPre{tr})
		flags := "00"
		if sampled {
			flags = "01"
		}
		ctx, _ := edgetrace.Tap(context.Background(), &tap.Info{Header: grpcmd.Pairs("traceparent", envoySpan+flags)})
		resp, err := s.Check(ctx, checkReq("application/grpc", b64("root:Milvus"), searchPath, framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})))
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
		md := resp.GetDynamicMetadata().GetFields()[edgemeta.TraceID].GetStringValue()
		spans := exp.GetSpans()
		if !sampled {
			if len(spans) != 0 || rec.TraceID != "" || md != "" {
				t.Errorf("unsampled: %d spans, decision trace_id %q, metadata %q", len(spans), rec.TraceID, md)
			}
			continue
		}
		if rec.TraceID != "0af7651916cd43dd8448eb211c80319c" || md != rec.TraceID {
			t.Errorf("decision trace_id %q, metadata %q", rec.TraceID, md)
		}
		byName := map[string]tracetest.SpanStub{}
		for _, sp := range spans {
			byName[sp.Name] = sp
		}
		authz := byName["ext_authz"]
		if authz.Parent.SpanID().String() != "b7ad6b7169203331" || authz.SpanKind != trace.SpanKindServer {
			t.Errorf("ext_authz: parent %v, kind %v", authz.Parent, authz.SpanKind)
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
	}
}
