package otlpreceiver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectortracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestReceivesOTLP: the OpenTelemetry Go SDK's OTLP/gRPC exporter — a real
// client of the protocol — delivers a parent and a child span, which come
// out flattened with their service, ids, kind, attributes and links.
func TestReceivesOTLP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := New(100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(lis.Addr().String()), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"))))
	tr := tp.Tracer("test")
	pctx, parent := tr.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tr.Start(pctx, "child", trace.WithAttributes(attribute.Int("n", 7), attribute.Bool("ok", true)),
		trace.WithLinks(trace.Link{SpanContext: parent.SpanContext()}))
	child.End()
	parent.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	id := parent.SpanContext().TraceID().String()
	spans := r.Trace(id)
	if len(spans) != 2 || r.Total() != 2 {
		t.Fatalf("trace %s: %d spans (total %d), want 2", id, len(spans), r.Total())
	}
	p, c := spans[0], spans[1]
	if p.Name != "parent" || p.ParentID != "" || p.Kind != tracev1.Span_SPAN_KIND_SERVER || p.Service != "svc" {
		t.Errorf("parent: %+v", p)
	}
	if c.Name != "child" || c.ParentID != p.SpanID || c.Attrs["n"] != "7" || c.Attrs["ok"] != "true" {
		t.Errorf("child: %+v", c)
	}
	if len(c.Links) != 1 || c.Links[0].SpanID != p.SpanID || c.Links[0].TraceID != id {
		t.Errorf("child links %+v", c.Links)
	}
	if !c.End.After(c.Start) || time.Since(c.ReceivedAt) > time.Minute {
		t.Errorf("times: %v → %v, received %v", c.Start, c.End, c.ReceivedAt)
	}
	if tree := Tree(spans); !strings.HasPrefix(tree, "svc: parent (") || !strings.Contains(tree, "\n  svc: child (") {
		t.Errorf("tree:\n%s", tree)
	}
}

// TestCountOnly: a receiver that keeps nothing (the bench's sink) still
// counts every span; one that keeps n stores the first n.
func TestCountOnly(t *testing.T) {
	req := &collectortracev1.ExportTraceServiceRequest{ResourceSpans: []*tracev1.ResourceSpans{{
		ScopeSpans: []*tracev1.ScopeSpans{{Spans: []*tracev1.Span{{Name: "a"}, {Name: "b"}, {Name: "c"}}}},
	}}}
	for _, keep := range []int{0, 2} {
		r := New(keep)
		if _, err := r.Export(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if r.Total() != 3 || len(r.Spans()) != keep {
			t.Errorf("keep %d: total %d, stored %d", keep, r.Total(), len(r.Spans()))
		}
	}
}
