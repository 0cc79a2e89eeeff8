package authz

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/policy"
	"github.com/milvus-edge/milvus-edge/ratelimit"
)

// UseTracer turns tracing on: Check decides which calls are traced and
// those record the edge's spans (ext_authz, policy, rate limit, and the
// preprocessor's); call it before serving. nil: tracing off.
func (s *Server) UseTracer(t *edgetrace.Tracer) { s.tr = t }

// Check authenticates and authorizes one request. With tracing on, it
// decides first whether the call is traced (edgetrace.Decide: the client's
// traceparent, else Options.TraceSampling of new traces); a traced call gets
// the ext_authz span around check, as a child of the call's server span,
// and its answer carries the trace (traceResponse). Others go straight
// through, allocating nothing for tracing.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if s.tr == nil {
		return s.check(ctx, req)
	}
	tp := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["traceparent"]
	call, traced := edgetrace.Decide(tp, s.opts.Load().TraceSampling)
	if !traced {
		return s.check(ctx, req)
	}
	ctx, span := s.tr.Start(call.Context(ctx), "ext_authz", trace.SpanKindServer)
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
	traceResponse(resp, call)
	return resp, err
}

// traceResponse puts a traced call's trace into ext_authz's answer: the
// trace id and the span ids in its facts (the dynamic metadata the access
// log prints and the edge makes Envoy's spans from, edgetrace.EnvoySpans),
// and, for an allowed call, the backend's traceparent (Envoy's upstream span
// U) and the edgehdr.Trace header that makes ext_proc's spans children of
// the server span.
func traceResponse(resp *authv3.CheckResponse, c edgetrace.Call) {
	if resp == nil {
		return
	}
	md := resp.DynamicMetadata
	if md == nil {
		md = &structpb.Struct{}
		resp.DynamicMetadata = md
	}
	if md.Fields == nil {
		md.Fields = map[string]*structpb.Value{}
	}
	md.Fields[edgemeta.TraceID] = structpb.NewStringValue(c.Trace.String())
	md.Fields[edgemeta.SpanID] = structpb.NewStringValue(c.Server.String())
	md.Fields[edgemeta.UpstreamSpanID] = structpb.NewStringValue(c.Upstream.String())
	if c.Parent.IsValid() {
		md.Fields[edgemeta.ParentSpanID] = structpb.NewStringValue(c.Parent.String())
	}
	if ok := resp.GetOkResponse(); ok != nil {
		ok.Headers = append(ok.Headers,
			&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "traceparent", Value: c.UpstreamTraceparent()},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			&corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: edgehdr.Trace, Value: c.ServerTraceparent()},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
		)
	}
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
