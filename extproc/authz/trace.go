package authz

import (
	"context"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/policy"
	"github.com/milvus-edge/milvus-edge/ratelimit"
)

// UseTracer makes traced calls record the edge's spans (ext_authz, policy,
// rate limit, and the preprocessor's); call it before serving. nil: none.
func (s *Server) UseTracer(t *edgetrace.Tracer) { s.tr = t }

// Check authenticates and authorizes one request. A call Envoy traces (a
// sampled traceparent on this gRPC call, see edgetrace.Tap) gets the
// ext_authz span around check; others go straight through.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	ctx, span := s.tr.Start(ctx, "ext_authz", trace.SpanKindServer)
	if !span.IsRecording() {
		return s.check(ctx, req)
	}
	defer span.End()
	resp, err := s.check(ctx, req)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(otelcodes.Error, err.Error())
	case resp.GetStatus().GetCode() != 0:
		span.SetAttributes(attribute.Int64("milvus_edge.check.code", int64(resp.GetStatus().GetCode())))
		span.SetStatus(otelcodes.Error, resp.GetStatus().GetMessage())
	}
	return resp, err
}

// traceDecision puts the trace id into the decision record and the record's
// facts on the ext_authz span, for traced calls.
func traceDecision(ctx context.Context, rec *DecisionRecord) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	rec.TraceID = edgetrace.TraceID(ctx)
	span.SetAttributes(
		attribute.String("milvus.api", rec.API),
		attribute.String("milvus.db", rec.DB),
		attribute.String("milvus.object", rec.Object),
		attribute.String("milvus_edge.user", rec.User),
		attribute.String("milvus_edge.auth_method", rec.AuthMethod),
		attribute.Bool("milvus_edge.allow", rec.Allow),
		attribute.String("milvus_edge.decision_id", rec.DecisionID),
	)
	if rec.Reason != "" {
		span.SetAttributes(attribute.String("milvus_edge.reason", rec.Reason))
	}
	if rec.Limited != "" {
		span.SetAttributes(attribute.String("milvus_edge.limited", rec.Limited))
	}
}

// eval asks the policy, inside the policy span for traced calls.
func (s *Server) eval(ctx context.Context, b *policy.Bundle, input astValue, key string) (policy.Decision, error) {
	ctx, span := s.tr.Start(ctx, "policy", trace.SpanKindInternal)
	d, err := s.policy.Eval(ctx, b, input, key)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("milvus_edge.policy_version", b.Version),
			attribute.Bool("milvus_edge.decision_cacheable", key != ""),
			attribute.Bool("milvus_edge.allow", d.Allow),
		)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(otelcodes.Error, err.Error())
		}
		span.End()
	}
	return d, err
}

// checkLimit asks the rate limiter, inside the rate limit span for traced
// calls.
func (s *Server) checkLimit(ctx context.Context, c *ratelimit.Call) *ratelimit.Refusal {
	ctx, span := s.tr.Start(ctx, "rate limit", trace.SpanKindInternal)
	ref := s.limits.Check(ctx, c)
	if span.IsRecording() {
		span.SetAttributes(attribute.Float64("milvus_edge.cost", c.Cost))
		if ref != nil {
			span.SetAttributes(attribute.String("milvus_edge.limited", ref.Reason))
		}
		span.End()
	}
	return ref
}
