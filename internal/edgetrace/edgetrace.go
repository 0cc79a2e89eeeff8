// Package edgetrace is the edge's OpenTelemetry tracing: the filter server's
// spans (ext_authz, policy, validation, schema fill, rate limit) as children
// of the span Envoy sends with each ext_authz and ext_proc gRPC call, and
// their OTLP/gRPC export.
//
// Envoy decides what is traced (tracing.sampling, or the client's
// traceparent); the edge follows. Its cost when a call is not traced is what
// Tap and Start do before they return: a header lookup and a flag test in
// Tap, a context lookup in Start. Nothing is allocated or recorded until a
// sampled parent is seen, and with tracing off (a nil *Tracer, no Tap
// installed) not even that.
package edgetrace

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/tap"
)

// Config configures the edge's tracer.
type Config struct {
	// Endpoint is the OTLP/gRPC collector, host:port (tracing.otlp_endpoint).
	Endpoint string
	// ServiceName is the service.name of the edge's spans.
	ServiceName string
	// Log receives export failures (at most one line a minute).
	Log *slog.Logger
}

// Tracer makes the edge's spans; a nil *Tracer traces nothing.
type Tracer struct {
	tp *sdktrace.TracerProvider
	tr trace.Tracer
}

// exportBatchTimeout is how long a finished span may wait for its batch:
// short, so that a trace is whole at the collector soon after the call.
const exportBatchTimeout = time.Second

// New returns a tracer exporting to c.Endpoint over plaintext gRPC. It does
// not wait for the collector: spans are batched, and a collector that is
// down costs dropped batches (logged), never a request.
func New(ctx context.Context, c Config) (*Tracer, error) {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithInsecure())
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	return WithExporter(exp, c.ServiceName, c.Log), nil
}

// WithExporter returns a tracer that batches its spans to exp (New's, or
// an in-memory one in tests); log receives export failures (nil: none).
func WithExporter(exp sdktrace.SpanExporter, serviceName string, log *slog.Logger) *Tracer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: log}, sdktrace.WithBatchTimeout(exportBatchTimeout)),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", serviceName))),
		// The edge never starts a trace: Envoy samples, the edge follows.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
	)
	return &Tracer{tp: tp, tr: tp.Tracer("github.com/milvus-edge/milvus-edge")}
}

// ForceFlush exports the finished spans now (tests).
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown exports the spans still queued and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// noSpan is what Start returns for calls that are not traced.
var noSpan = trace.SpanFromContext(context.Background())

// Start starts a span named name as a child of the sampled span in ctx. When
// ctx holds none (tracing off, the call not sampled) it returns ctx itself
// and a span that records nothing, without allocating.
func (t *Tracer) Start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if t == nil || !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, noSpan
	}
	return t.tr.Start(ctx, name, trace.WithSpanKind(kind))
}

// TraceID is the trace id of the sampled span in ctx, in hex as W3C writes
// it and Envoy's %TRACE_ID% prints it; "" when ctx holds none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// Tap is a grpc.InTapHandle for the filter server: when the call's
// traceparent (Envoy's span for this ext_authz or ext_proc call) is sampled,
// the call's context gets it as its remote parent. Unsampled and absent
// traceparents leave ctx as it is.
func Tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	v := info.Header["traceparent"]
	if len(v) != 1 {
		return ctx, nil
	}
	sc, ok := parseSampled(v[0])
	if !ok {
		return ctx, nil
	}
	if ts := info.Header["tracestate"]; len(ts) == 1 {
		if st, err := trace.ParseTraceState(ts[0]); err == nil {
			sc = sc.WithTraceState(st)
		}
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc), nil
}

// parseSampled reads a W3C traceparent ("00-<trace id>-<parent id>-<flags>")
// and returns its context only when it is valid and sampled. The flags are
// tested first: an unsampled call costs no decoding.
func parseSampled(v string) (trace.SpanContext, bool) {
	// Version 00 is exactly 55 characters; later versions may append fields.
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && v[55] != '-') {
		return trace.SpanContext{}, false
	}
	if v[:2] == "ff" || (v[:2] == "00" && len(v) != 55) {
		return trace.SpanContext{}, false
	}
	flags, ok := hexByte(v[53], v[54])
	if !ok || flags&byte(trace.FlagsSampled) == 0 {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	if _, err := hex.Decode(tid[:], []byte(v[3:35])); err != nil || !tid.IsValid() {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(sid[:], []byte(v[36:52])); err != nil || !sid.IsValid() {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}), true
}

func hexByte(a, b byte) (byte, bool) {
	hi, ok1 := nibble(a)
	lo, ok2 := nibble(b)
	return hi<<4 | lo, ok1 && ok2
}

// nibble accepts lower-case hex only, as W3C requires.
func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Outgoing adds the sampled span in ctx as the W3C traceparent of an
// outgoing gRPC call (the schema fill's calls to Milvus), so a Milvus that
// traces joins the trace; ctx is returned as it is when it holds none.
func Outgoing(ctx context.Context) context.Context {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return ctx
	}
	tp := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if ts := sc.TraceState().String(); ts != "" {
		return metadata.AppendToOutgoingContext(ctx, "traceparent", tp, "tracestate", ts)
	}
	return metadata.AppendToOutgoingContext(ctx, "traceparent", tp)
}

// loggingExporter reports failed exports through the edge's logger, at
// most one line a minute, instead of OpenTelemetry's global error handler.
type loggingExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger
	// last is when a failure was last logged (unix ns); dropped counts the
	// spans of failed exports.
	last    atomic.Int64
	dropped atomic.Int64
}

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	n := e.dropped.Add(int64(len(spans)))
	now, last := time.Now().UnixNano(), e.last.Load()
	if now-last >= int64(time.Minute) && e.last.CompareAndSwap(last, now) {
		e.log.Warn("trace export failed; spans dropped", "error", err, "dropped_spans_total", n)
	}
	return nil
}
