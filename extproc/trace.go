package extproc

import (
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/extproc/validate"
)

// tracedValidate is validate inside the validation span when the call is
// traced (ext_authz's span in the single pass, Envoy's ext_proc span
// otherwise); the schema fill it may start is that span's child.
func (p *processor) tracedValidate(m *milvusgrpc.Method, msg []byte, decoded proto.Message, req *Request) *validate.Error {
	ctx, span := p.s.c.Tracer.Start(p.ctx, "validation", trace.SpanKindInternal)
	if !span.IsRecording() {
		return p.validate(m, msg, decoded, req)
	}
	defer span.End()
	outer := p.ctx
	p.ctx = ctx
	e := p.validate(m, msg, decoded, req)
	p.ctx = outer
	span.SetAttributes(
		attribute.String("milvus.api", m.Name),
		attribute.String("milvus.db", req.DB),
		attribute.String("milvus.collection", req.Collection),
		attribute.Bool("milvus_edge.schema_checked", p.s.c.Schemas != nil && dataChecks[m.Name] != nil),
	)
	if e != nil {
		span.SetAttributes(attribute.Int64("milvus.code", int64(e.Code)))
		span.SetStatus(otelcodes.Error, e.Reason)
	}
	return e
}
