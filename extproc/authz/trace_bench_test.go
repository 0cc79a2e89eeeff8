package authz

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/policy"
)

// BenchmarkCheckTraced is BenchmarkCheck's check/allow with tracing on: a
// call that is not traced — no traceparent at sampling 0.01 (the path 99 %
// of calls take) or a client's unsampled one; both must cost what tracing
// off costs — and one a client's sampled traceparent makes traced (the
// ext_authz and policy spans, exported to a discarding exporter, and the
// trace in the answer).
func BenchmarkCheckTraced(b *testing.B) {
	dir := benchBundle(b)
	ctx := context.Background()
	engine := policy.NewEngine(slog.New(slog.NewTextHandler(io.Discard, nil)), policy.Options{Dir: dir, DecisionCacheTTL: time.Minute})
	if err := engine.Load(ctx); err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	creds, _ := cache.NewCredentials(1000, time.Hour)
	defer creds.Close()
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewAuthenticator(creds, nil), engine, nil, Options{})
	tr := edgetrace.WithExporter(tracetest.NewNoopExporter(), "bench", nil)
	defer tr.Shutdown(ctx)
	search := checkReq("application/grpc", b64("reader:Reader-pw1"), searchPath, framed(b, &milvuspb.SearchRequest{CollectionName: "docs", Dsl: "id > 3", OutputFields: []string{"id"}}))
	if _, err := srv.Check(ctx, search); err != nil {
		b.Fatal(err)
	}
	creds.Wait()
	srv.SetOptions(Options{TraceSampling: 0.01})
	headers := search.Attributes.Request.Http.Headers
	for _, tc := range []struct {
		name   string
		tracer *edgetrace.Tracer
		flags  string
	}{{"tracing-off", nil, ""}, {"no-traceparent", tr, ""}, {"unsampled", tr, "00"}, {"sampled", tr, "01"}} {
		srv.UseTracer(tc.tracer)
		delete(headers, "traceparent")
		if tc.flags != "" {
			headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-" + tc.flags
		}
		b.Run("check/allow/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.Check(ctx, search); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
