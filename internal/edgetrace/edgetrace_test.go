package edgetrace

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/tap"
)

const (
	sampled   = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
)

func TestParseSampled(t *testing.T) {
	for _, tc := range []struct {
		name, v string
		ok      bool
	}{
		{"sampled", sampled, true},
		{"other flags with sampled bit", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03", true},
		{"unsampled", unsampled, false},
		{"empty", "", false},
		{"short", sampled[:54], false},
		{"version 00 with more fields", sampled + "-xx", false},
		{"future version with more fields", "01" + sampled[2:] + "-xx", true},
		{"version ff", "ff" + sampled[2:], false},
		{"upper-case flags", sampled[:53] + "0A", false},
		{"zero trace id", "00-00000000000000000000000000000000-b7ad6b7169203331-01", false},
		{"zero span id", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false},
		{"not hex", "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01", false},
		{"bad separators", "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, ok := parseSampled(tc.v)
			if ok != tc.ok {
				t.Fatalf("parseSampled(%q) ok = %v, want %v", tc.v, ok, tc.ok)
			}
			if ok && (sc.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || sc.SpanID().String() != "b7ad6b7169203331" || !sc.IsRemote()) {
				t.Errorf("context %v", sc)
			}
		})
	}
}

// TestUnsampledCostsNothing pins the zero-cost rule: an unsampled or absent
// traceparent and a nil tracer allocate nothing in Tap, Start and TraceID.
func TestUnsampledCostsNothing(t *testing.T) {
	tr := WithExporter(tracetest.NewInMemoryExporter(), "test", nil)
	defer tr.Shutdown(context.Background())
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		md   metadata.MD
		tr   *Tracer
	}{
		{"unsampled", metadata.Pairs("traceparent", unsampled), tr},
		{"absent", metadata.Pairs("content-type", "application/grpc"), tr},
		{"tracing off", metadata.Pairs("traceparent", sampled), nil},
	} {
		info := &tap.Info{FullMethodName: "/envoy.service.auth.v3.Authorization/Check", Header: tc.md}
		allocs := testing.AllocsPerRun(100, func() {
			c := ctx
			if tc.tr != nil {
				c, _ = Tap(ctx, info)
			}
			c, span := tc.tr.Start(c, "ext_authz", trace.SpanKindServer)
			span.End()
			if TraceID(c) != "" {
				t.Fatal("a trace id for an untraced call")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, allocs)
		}
	}
}

// TestChildOfEnvoysSpan: a sampled traceparent makes the edge's spans
// children of Envoy's span, in its trace, and Outgoing passes the current
// span on.
func TestChildOfEnvoysSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := WithExporter(exp, "milvus-edge", nil)
	ctx, err := Tap(context.Background(), &tap.Info{Header: metadata.Pairs("traceparent", sampled, "tracestate", "vendor=x")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, authz := tr.Start(ctx, "ext_authz", trace.SpanKindServer)
	if got := TraceID(ctx); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("TraceID = %q", got)
	}
	pctx, policy := tr.Start(ctx, "policy", trace.SpanKindInternal)
	out, _ := metadata.FromOutgoingContext(Outgoing(pctx))
	want := "00-0af7651916cd43dd8448eb211c80319c-" + policy.SpanContext().SpanID().String() + "-01"
	if got := out.Get("traceparent"); len(got) != 1 || got[0] != want {
		t.Errorf("outgoing traceparent %v, want %s", got, want)
	}
	if got := out.Get("tracestate"); len(got) != 1 || got[0] != "vendor=x" {
		t.Errorf("outgoing tracestate %v", got)
	}
	policy.End()
	authz.End()
	// The in-memory exporter forgets its spans on Shutdown: flush only.
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	if p := byName["ext_authz"].Parent; p.SpanID().String() != "b7ad6b7169203331" || !p.IsRemote() {
		t.Errorf("ext_authz parent %v, want Envoy's span b7ad6b7169203331", p)
	}
	if p := byName["policy"].Parent; p.SpanID() != byName["ext_authz"].SpanContext.SpanID() {
		t.Errorf("policy parent %v, want ext_authz", p)
	}
	if sn, _ := byName["policy"].Resource.Set().Value("service.name"); sn.AsString() != "milvus-edge" {
		t.Errorf("service.name %q", sn.AsString())
	}
}

// BenchmarkTapUnsampled is the per-call cost of tracing on for a call Envoy
// did not sample.
func BenchmarkTapUnsampled(b *testing.B) {
	tr := WithExporter(tracetest.NewInMemoryExporter(), "test", nil)
	info := &tap.Info{Header: metadata.Pairs("traceparent", unsampled, "content-type", "application/grpc", ":path", "/x")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, _ := Tap(ctx, info)
		_, span := tr.Start(c, "ext_authz", trace.SpanKindServer)
		span.End()
	}
}
