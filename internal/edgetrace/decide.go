package edgetrace

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
)

// Call is the trace context ext_authz chose for one traced call: the trace,
// the ids of the two spans that stand for Envoy's work — Server (S, the
// client's call as Envoy handled it; the parent of the edge's spans) and
// Upstream (U, Envoy's call to the backend; the span Milvus is told is its
// parent) — and the client's span, S's parent, when the client's
// traceparent was sampled (zero for a trace the edge started).
type Call struct {
	Trace    trace.TraceID
	Server   trace.SpanID
	Upstream trace.SpanID
	Parent   trace.SpanID
}

// Decide says whether a call is traced, from the client's traceparent (the
// CheckRequest's request header) and the share of new traces to sample
// (tracing.sampling, 0..1):
//   - a valid traceparent decides by its sampled flag; a sampled one is
//     continued (same trace, the client's span is S's parent);
//   - none, or an invalid one (W3C: as if absent), starts a new trace, traced
//     when the trace id's low 63 bits fall under ratio of their range — the
//     rule of OpenTelemetry's TraceIDRatioBased sampler, so a collector's
//     tail sampling by the same rule agrees.
//
// An untraced call costs a parse (a traceparent) or one random number (none)
// and allocates nothing; only a traced call draws its span ids.
func Decide(traceparent string, ratio float64) (Call, bool) {
	var c Call
	if traceparent != "" {
		tid, sid, sampled, ok := parseTraceparent(traceparent)
		if ok {
			if !sampled {
				return c, false
			}
			c.Trace, c.Parent = tid, sid
			c.Server, c.Upstream = newSpanID(), newSpanID()
			return c, true
		}
	}
	if ratio <= 0 {
		return c, false
	}
	lo := rand.Uint64()
	if ratio < 1 && lo>>1 >= uint64(ratio*(1<<63)) {
		return c, false
	}
	binary.BigEndian.PutUint64(c.Trace[:8], rand.Uint64()|1) // never the invalid all-zero id
	binary.BigEndian.PutUint64(c.Trace[8:], lo)
	c.Server, c.Upstream = newSpanID(), newSpanID()
	return c, true
}

// newSpanID is a random, valid (non-zero) span id.
func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// Context is ctx with the call's server span S as its remote parent: spans
// started from it (Tracer.Start) are S's children in the call's trace.
func (c Call) Context(ctx context.Context) context.Context {
	return trace.ContextWithRemoteSpanContext(ctx, c.spanContext(c.Server))
}

func (c Call) spanContext(id trace.SpanID) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: c.Trace, SpanID: id, TraceFlags: trace.FlagsSampled, Remote: true})
}

// UpstreamTraceparent is the traceparent the backend gets: Envoy's upstream
// span U, sampled.
func (c Call) UpstreamTraceparent() string { return traceparent(c.Trace, c.Upstream) }

// ServerTraceparent names the server span S, for ext_proc (the edgehdr.Trace
// header; ContextFrom reads it).
func (c Call) ServerTraceparent() string { return traceparent(c.Trace, c.Server) }

func traceparent(t trace.TraceID, s trace.SpanID) string {
	return "00-" + t.String() + "-" + s.String() + "-01"
}

// ContextFrom is ctx with the span a sampled traceparent names (ext_proc:
// the edgehdr.Trace header ext_authz set) as its remote parent; ctx itself
// for anything else.
func ContextFrom(ctx context.Context, traceparent string) context.Context {
	sc, ok := parseSampled(traceparent)
	if !ok {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
