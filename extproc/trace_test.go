package extproc

import (
	"context"
	"io"
	"log/slog"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
)

// tracedServer is a filter server over a dim-vector schema whose spans go
// to memory; flushed returns the spans recorded so far.
func tracedServer(t *testing.T, dim int) (srv *Server, flushed func() tracetest.SpanStubs) {
	exp := tracetest.NewInMemoryExporter()
	tr := edgetrace.WithExporter(exp, "milvus-edge", nil)
	srv = New(Config{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 4096,
		Schemas: fixedSchemas{benchSchema(t, dim)}, Router: func(string, string) string { return "default" },
		Tracer: tr,
	})
	return srv, func() tracetest.SpanStubs {
		t.Helper()
		if err := tr.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return exp.GetSpans()
	}
}

// TestValidationSpan: a traced call's validation is a span (a child of the
// caller's: ext_authz's in the single pass) naming the call, marked as an
// error with Milvus's reason when refused; an untraced call records none.
func TestValidationSpan(t *testing.T) {
	const dim = 8
	srv, flushed := tracedServer(t, dim)
	const path = "/milvus.proto.milvus.MilvusService/Search"
	traced := edgetrace.ContextFrom(context.Background(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	untraced := context.Background()
	srv.Preprocess(untraced, true, path, "", "", searchBody(t, dim), nil)
	srv.Preprocess(traced, true, path, "", "", searchBody(t, dim), nil)
	srv.Preprocess(traced, true, path, "", "", searchBody(t, 4), nil)
	spans := flushed()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (the traced calls')", len(spans))
	}
	for i, wantErr := range []bool{false, true} {
		s := spans[i]
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if s.Name != "validation" || s.Parent.SpanID().String() != "b7ad6b7169203331" || attrs["milvus.api"] != "Search" || attrs["milvus.collection"] != "docs" {
			t.Errorf("span %d: %s parent %v attributes %v", i, s.Name, s.Parent, attrs)
		}
		if got := s.Status.Code == codes.Error; got != wantErr || (wantErr && attrs["milvus.code"] != "65535") {
			t.Errorf("span %d: status %v, code %q; want error %v", i, s.Status, attrs["milvus.code"], wantErr)
		}
	}
}

// TestValidationSpanUnderServerSpan: ext_proc's validation of a call
// ext_authz traced is a child of the call's server span S, named by the
// edgehdr.Trace header ext_authz set; a call without it records nothing.
func TestValidationSpanUnderServerSpan(t *testing.T) {
	const dim = 8
	srv, flushed := tracedServer(t, dim)
	call, _ := edgetrace.Decide("", 1)
	for _, traced := range []bool{false, true} {
		kv := []string{":path", "/milvus.proto.milvus.MilvusService/Search", "content-type", "application/grpc"}
		if traced {
			kv = append(kv, edgehdr.Trace, call.ServerTraceparent())
		}
		p := processor{s: srv, ctx: context.Background()}
		p.requestHeaders(headers(kv...))
		p.requestBody(&extprocv3.HttpBody{Body: searchBody(t, dim), EndOfStream: true})
	}
	spans := flushed()
	if len(spans) != 1 || spans[0].Name != "validation" || spans[0].Parent.SpanID() != call.Server || spans[0].SpanContext.TraceID() != call.Trace {
		t.Fatalf("spans %+v, want one validation under S %v", spans, call.Server)
	}
}
