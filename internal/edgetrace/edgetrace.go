// Package edgetrace is the edge's OpenTelemetry tracing. The edge decides
// what is traced (Decide, in ext_authz: the client's traceparent, else
// tracing.sampling of new traces) and makes every span of a traced call:
// its own (ext_authz, policy, rate limit, validation, schema fill) as it
// works, and Envoy's two — the server span S (the client's call as Envoy
// handled it) and the upstream span U (Envoy's call to the backend) — from
// the call's access-log entry, with Envoy's timings (EnvoySpans). Envoy
// runs no tracer.
//
// A call that is not traced costs Decide a header test (and, without a
// traceparent, one random number) and Start a context lookup; nothing is
// allocated or recorded. With tracing off (a nil *Tracer) not even that.
package edgetrace

import (
	"context"
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
	// bsp batches the spans to the exporter; Envoy's spans (EnvoySpans),
	// which the SDK did not start, are handed to it as ended spans.
	bsp sdktrace.SpanProcessor
	// envoy is the resource of Envoy's spans (service "<name>-envoy").
	envoy *resource.Resource
}

// EnvoyServiceSuffix names the service of the spans that stand for Envoy's
// work (S and U) apart from the filter server's: "<service_name>-envoy", so
// that a trace shows the two processes as they were before the edge made
// Envoy's spans itself.
const EnvoyServiceSuffix = "-envoy"

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
	bsp := sdktrace.NewBatchSpanProcessor(&loggingExporter{SpanExporter: exp, log: log}, sdktrace.WithBatchTimeout(exportBatchTimeout))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(bsp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", serviceName))),
		// Spans start only under a traced call's server span (Decide):
		// the SDK never starts a trace of its own.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
	)
	return &Tracer{tp: tp, tr: tp.Tracer(scopeName), bsp: bsp,
		envoy: resource.NewSchemaless(attribute.String("service.name", serviceName+EnvoyServiceSuffix))}
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

// scopeName is the instrumentation scope of the edge's spans.
const scopeName = "github.com/milvus-edge/milvus-edge"

// TraceID is the trace id of the sampled span in ctx, in hex as W3C writes
// it; "" when ctx holds none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// parseTraceparent reads a W3C traceparent ("00-<trace id>-<parent id>-
// <flags>"): ok when it is valid, sampled its flag. It allocates nothing.
func parseTraceparent(v string) (tid trace.TraceID, sid trace.SpanID, sampled, ok bool) {
	// Version 00 is exactly 55 characters; later versions may append fields.
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && v[55] != '-') {
		return tid, sid, false, false
	}
	if _, ok := hexByte(v[0], v[1]); !ok || v[:2] == "ff" || (v[:2] == "00" && len(v) != 55) {
		return tid, sid, false, false
	}
	flags, ok := hexByte(v[53], v[54])
	if !ok || !decodeHex(tid[:], v[3:35]) || !tid.IsValid() || !decodeHex(sid[:], v[36:52]) || !sid.IsValid() {
		return tid, sid, false, false
	}
	return tid, sid, flags&byte(trace.FlagsSampled) != 0, true
}

// parseSampled is the remote span context of a valid, sampled traceparent.
func parseSampled(v string) (trace.SpanContext, bool) {
	tid, sid, sampled, ok := parseTraceparent(v)
	if !ok || !sampled {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}), true
}

// decodeHex decodes lower-case hex s into dst (len(s) == 2*len(dst)).
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		b, ok := hexByte(s[2*i], s[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
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
