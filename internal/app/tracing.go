package app

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
)

// newTracer returns the edge's tracer, or nil when tracing.otlp_endpoint is
// empty (tracing off: no decisions, no spans).
func newTracer(ctx context.Context, log *slog.Logger, cfg *config.Config) (*edgetrace.Tracer, error) {
	if cfg.Tracing.OTLPEndpoint == "" {
		return nil, nil
	}
	return edgetrace.New(ctx, edgetrace.Config{Endpoint: cfg.Tracing.OTLPEndpoint, ServiceName: cfg.Tracing.ServiceName, Log: log})
}

// traceSampling is tracing.sampling (0 before defaults are applied).
func traceSampling(cfg *config.Config) float64 {
	if cfg.Tracing.Sampling == nil {
		return 0
	}
	return *cfg.Tracing.Sampling
}

// envoySpans is the access-log service's hook for traced calls: it makes
// the spans that stand for Envoy's work from the call's entry; nil with
// tracing off.
func envoySpans(tr *edgetrace.Tracer) func(entry []byte) {
	if tr == nil {
		return nil
	}
	return func(entry []byte) { _ = tr.ExportEnvoySpans(entry) } // the stream refuses a malformed message (entryTraced); a span it cannot make is dropped
}

// shutdownTracer exports the spans still queued, waiting at most 2 s for
// the collector.
func shutdownTracer(tr *edgetrace.Tracer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tr.Shutdown(ctx)
}

// UseTracer makes the fills of traced calls record a span ("schema fill")
// and pass the trace on to Milvus; call it before serving.
func (s *SchemaStore) UseTracer(tr *edgetrace.Tracer) { s.tr = tr }

// traceFill runs one backend fill inside the schema fill span when the call
// that started it is traced. The fill runs on its own (cache.Schemas: detached
// from the caller's cancellation, it may outlive the call's fill budget), so
// the span may end after its parent, the call's validation or rate limit
// span; a later call that finds the result cached has no fill span.
func traceFill[T any](s *SchemaStore, ctx context.Context, k cache.SchemaKey, what string, fill func(context.Context) (T, error)) (T, error) {
	ctx, span := s.tr.Start(ctx, "schema fill", trace.SpanKindClient)
	if !span.IsRecording() {
		return fill(ctx)
	}
	defer span.End()
	span.SetAttributes(
		attribute.String("milvus_edge.fill", what),
		attribute.String("milvus_edge.cluster", k.Cluster),
		attribute.String("milvus.db", k.DB),
		attribute.String("milvus.collection", k.Collection),
	)
	v, err := fill(edgetrace.Outgoing(ctx))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(otelcodes.Error, err.Error())
	}
	return v, err
}
