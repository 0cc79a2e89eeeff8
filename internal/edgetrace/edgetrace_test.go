package edgetrace

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
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

// TestUnsampledCostsNothing pins the zero-cost rule: deciding a call with
// an unsampled or absent traceparent (at sampling 0.01, as long as the draw
// says no) and a span under no trace allocate nothing, nor does a nil tracer.
func TestUnsampledCostsNothing(t *testing.T) {
	tr := WithExporter(tracetest.NewInMemoryExporter(), "test", nil)
	defer tr.Shutdown(context.Background())
	ctx := context.Background()
	for _, tc := range []struct {
		name, traceparent string
		ratio             float64
		tr                *Tracer
	}{
		{"unsampled", unsampled, 1, tr},
		{"absent, sampling 0", "", 0, tr},
		{"absent, not drawn", "", 1e-12, tr},
		{"tracing off", sampled, 1, nil},
	} {
		allocs := testing.AllocsPerRun(100, func() {
			c := ctx
			if tc.tr != nil {
				if call, ok := Decide(tc.traceparent, tc.ratio); ok {
					c = call.Context(ctx)
				}
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

// TestDecide: the client's traceparent decides (sampled: its trace, its span
// as the parent; unsampled: not traced), otherwise the ratio of new traces,
// by the trace id's bits.
func TestDecide(t *testing.T) {
	c, ok := Decide(sampled, 0)
	if !ok || c.Trace.String() != "0af7651916cd43dd8448eb211c80319c" || c.Parent.String() != "b7ad6b7169203331" ||
		!c.Server.IsValid() || !c.Upstream.IsValid() || c.Server == c.Upstream {
		t.Fatalf("sampled traceparent: %+v %v", c, ok)
	}
	if got := c.UpstreamTraceparent(); got != "00-0af7651916cd43dd8448eb211c80319c-"+c.Upstream.String()+"-01" {
		t.Errorf("upstream traceparent %q", got)
	}
	if _, ok := Decide(unsampled, 1); ok {
		t.Error("unsampled traceparent traced")
	}
	if c, ok := Decide("00-bad", 1); !ok || c.Parent.IsValid() || c.Trace.String() == "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("invalid traceparent: %+v %v, want a new trace", c, ok)
	}
	if _, ok := Decide("", 0); ok {
		t.Error("traced at sampling 0")
	}
	n := 0
	const calls = 100_000
	for range calls {
		c, ok := Decide("", 0.1)
		if ok {
			n++
			if !c.Trace.IsValid() || c.Parent.IsValid() {
				t.Fatalf("new trace %+v", c)
			}
			// The decision is the trace id's: a collector using
			// TraceIDRatioBased(0.1) keeps it too.
			if sdktrace.TraceIDRatioBased(0.1).ShouldSample(sdktrace.SamplingParameters{TraceID: c.Trace}).Decision != sdktrace.RecordAndSample {
				t.Fatalf("trace %s: OpenTelemetry's ratio sampler disagrees", c.Trace)
			}
		}
	}
	if n < calls/10*9/10 || n > calls/10*11/10 {
		t.Errorf("%d of %d traced at sampling 0.1", n, calls)
	}
	// ContextFrom reads what ServerTraceparent wrote.
	sc := trace.SpanContextFromContext(ContextFrom(context.Background(), c.ServerTraceparent()))
	if sc.SpanID() != c.Server || sc.TraceID() != c.Trace || !sc.IsSampled() {
		t.Errorf("ContextFrom: %v", sc)
	}
}

// TestChildOfServerSpan: the edge's spans of a traced call are children of
// its server span S, in its trace, and Outgoing passes the current span on.
func TestChildOfServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := WithExporter(exp, "milvus-edge", nil)
	call, _ := Decide(sampled, 0)
	ctx, authz := tr.Start(call.Context(context.Background()), "ext_authz", trace.SpanKindServer)
	if got := TraceID(ctx); got != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("TraceID = %q", got)
	}
	pctx, policy := tr.Start(ctx, "policy", trace.SpanKindInternal)
	out, _ := metadata.FromOutgoingContext(Outgoing(pctx))
	want := "00-0af7651916cd43dd8448eb211c80319c-" + policy.SpanContext().SpanID().String() + "-01"
	if got := out.Get("traceparent"); len(got) != 1 || got[0] != want {
		t.Errorf("outgoing traceparent %v, want %s", got, want)
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
	if p := byName["ext_authz"].Parent; p.SpanID() != call.Server {
		t.Errorf("ext_authz parent %v, want S %v", p, call.Server)
	}
	if p := byName["policy"].Parent; p.SpanID() != byName["ext_authz"].SpanContext.SpanID() {
		t.Errorf("policy parent %v, want ext_authz", p)
	}
	if sn, _ := byName["policy"].Resource.Set().Value("service.name"); sn.AsString() != "milvus-edge" {
		t.Errorf("service.name %q", sn.AsString())
	}
}

// BenchmarkDecideUnsampled is the per-call cost of tracing on for a call
// that is not traced.
func BenchmarkDecideUnsampled(b *testing.B) {
	tr := WithExporter(tracetest.NewInMemoryExporter(), "test", nil)
	ctx := context.Background()
	for _, tp := range []string{"", unsampled} {
		b.Run("traceparent="+tp, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c := ctx
				if call, ok := Decide(tp, 0); ok {
					c = call.Context(ctx)
				}
				_, span := tr.Start(c, "ext_authz", trace.SpanKindServer)
				span.End()
			}
		})
	}
}
