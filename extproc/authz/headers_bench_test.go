package authz

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/policy"
)

// BenchmarkRequestHeaders is what the edge spends per call on a pymilvus
// Search's headers when Envoy sends all of them, and when it sends only
// RequestHeaders (ext_authz allowed_headers): decoding the CheckRequest
// (the gRPC server's share) and the whole Check with the default bundle.
// Envoy's share (copying the headers, encoding the message) comes on top.
func BenchmarkRequestHeaders(b *testing.B) {
	dir := benchBundle(b)
	ctx := context.Background()
	engine := policy.NewEngine(slog.New(slog.NewTextHandler(io.Discard, nil)), policy.Options{Dir: dir})
	if err := engine.Load(ctx); err != nil {
		b.Fatal(err)
	}
	creds, _ := cache.NewCredentials(1000, time.Hour)
	defer creds.Close()
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewAuthenticator(creds, nil), engine, nil, Options{})
	all := checkReq("application/grpc", b64("reader:Reader-pw1"), searchPath,
		framed(b, &milvuspb.SearchRequest{CollectionName: "docs", Dsl: "id > 3", OutputFields: []string{"id"}}))
	// What Envoy puts in the headers map for a pymilvus 3.0 / grpcio 1.85 call.
	maps.Copy(all.Attributes.Request.Http.Headers, map[string]string{
		":authority": "127.0.0.1:19530", ":method": "POST", ":path": searchPath, ":scheme": "http",
		"te": "trailers", "grpc-accept-encoding": "identity, deflate, gzip", "grpc-timeout": "59999m",
		"user-agent": "grpc-python/1.85.3 grpc-c/51.0.0 (linux; chttp2)", "dbname": "default",
		"client-request-id": "7f3c2a9e-5b1d-4c8e-9a2f-1d6e8b4c3a70", "client-request-unixmsec": "1764592000123",
		"identifier": "462817236482913", "x-forwarded-proto": "http", "x-request-id": "4c1e9a42-0f7b-4d0a-8a36-3b1f0d5e9c21",
		PartialBodyHeader: "false",
	})
	allowed := proto.Clone(all).(*authv3.CheckRequest)
	h := allowed.Attributes.Request.Http
	maps.DeleteFunc(h.Headers, func(k, _ string) bool { return !slices.Contains(RequestHeaders, k) })
	if _, err := srv.Check(ctx, all); err != nil {
		b.Fatal(err)
	}
	creds.Wait()
	for _, tc := range []struct {
		name string
		req  *authv3.CheckRequest
	}{{"all", all}, {"allowed", allowed}} {
		wire, _ := proto.Marshal(tc.req)
		b.Run("decode/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(float64(len(wire)), "bytes")
			for b.Loop() {
				var r authv3.CheckRequest
				if err := proto.Unmarshal(wire, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode+check/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r authv3.CheckRequest
				if err := proto.Unmarshal(wire, &r); err != nil {
					b.Fatal(err)
				}
				if _, err := srv.Check(ctx, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
