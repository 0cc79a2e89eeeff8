package extproc

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"testing"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

// TestPreprocessAgreesWithExtProc: for the calls ext_authz may finish
// (single pass), Preprocess sets the same route key or the same typed refusal
// as ext_proc's own phases; for the others it declines (nil).
func TestPreprocessAgreesWithExtProc(t *testing.T) {
	const dim = 8
	now := time.Unix(100, 0)
	srv := New(Config{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 4096,
		Schemas: fixedSchemas{benchSchema(t, dim)}, Router: func(string, string) string { return "default" },
		WatchEvery: 50 * time.Millisecond, Now: func() time.Time { return now },
	})
	srv.claimWatch() // the sample of this instant is taken
	const svc = "/milvus.proto.milvus.MilvusService/"
	for _, tc := range []struct {
		name, method, dbHeader string
		body                   []byte
		declines               bool
		rest                   bool
		encoding               string
	}{
		{name: "gzip search", method: "Search", body: gzipFrame(t, searchBody(t, dim)), encoding: "gzip"},
		{name: "gzip search wrong dim", method: "Search", body: gzipFrame(t, searchBody(t, 4)), encoding: "gzip"},
		{name: "REST search", method: "/v2/vectordb/entities/search", body: []byte(`{"collectionName":"docs","data":[[0.1]]}`), rest: true},
		{name: "REST db from the header", method: "/v2/vectordb/entities/query", dbHeader: "tenant", body: []byte(`{"collectionName":"docs"}`), rest: true},
		{name: "REST no collection", method: "/v2/vectordb/collections/list", body: []byte(`{}`), rest: true},
		{name: "REST bad name (ext_proc answers)", method: "/v2/vectordb/entities/search", body: []byte(`{"collectionName":"1abc"}`), rest: true, declines: true},
		{name: "REST bad JSON (ext_proc answers)", method: "/v2/vectordb/entities/search", body: []byte(`{"collectionName":`), rest: true, declines: true},
		{name: "REST other path", method: "/healthz", body: nil, rest: true, declines: true},
		{name: "REST DDL (its answer invalidates: ext_proc's)", method: "/v2/vectordb/collections/drop", body: []byte(`{"collectionName":"docs"}`), rest: true, declines: true},
		{name: "search", method: "Search", body: searchBody(t, dim)},
		{name: "search wrong dim", method: "Search", body: searchBody(t, 4)},
		{name: "insert", method: "Insert", body: insertBody(t, 3, dim)},
		{name: "query with db_name", method: "Query", body: frameOf(t, &milvuspb.QueryRequest{DbName: "tenant", CollectionName: "docs", Expr: "id > 0"})},
		{name: "bad collection name", method: "HasCollection", body: frameOf(t, &milvuspb.HasCollectionRequest{CollectionName: "1abc"})},
		{name: "no names", method: "ListDatabases", body: frameOf(t, &milvuspb.ListDatabasesRequest{})},
		{name: "db_name from the header (body rewrite)", method: "HasCollection", dbHeader: "tenant", body: frameOf(t, &milvuspb.HasCollectionRequest{CollectionName: "docs"}), declines: true},
		{name: "DDL", method: "DropCollection", body: frameOf(t, &milvuspb.DropCollectionRequest{CollectionName: "docs"}), declines: true},
		{name: "larger than max_request_bytes", method: "Insert", body: insertBody(t, 200, dim), declines: true},
		{name: "broken frame", method: "HasCollection", body: []byte{0, 0, 0, 0, 9, 0x1a, 0x50}, declines: true},
		{name: "unknown method", method: "Nope", body: frameOf(t, &milvuspb.HasCollectionRequest{CollectionName: "docs"}), declines: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			path, ct := svc+tc.method, "application/grpc"
			if tc.rest {
				path, ct = tc.method, "application/json"
			}
			hs := srv.Preprocess(context.Background(), !tc.rest, path, tc.dbHeader, tc.encoding, tc.body, nil)
			for _, h := range hs {
				got[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
			}
			if tc.declines {
				if hs != nil {
					t.Fatalf("Preprocess = %v, want nil (ext_proc's call)", got)
				}
				return
			}
			p := processor{s: srv, ctx: context.Background()}
			p.requestHeaders(headers(":path", path, "content-type", ct, "dbname", tc.dbHeader, "grpc-encoding", tc.encoding))
			r := p.requestBody(&extprocsvc.HttpBody{Body: tc.body, EndOfStream: true})
			want := map[string]string{}
			for _, h := range r.GetRequestBody().GetResponse().GetHeaderMutation().GetSetHeaders() {
				want[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
			}
			if _, refused := want[edgehdr.Reject]; !refused {
				want[edgehdr.Checked] = "1"
			}
			if len(got) != len(want) {
				t.Fatalf("Preprocess headers %v, ext_proc %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("%s: Preprocess %q, ext_proc %q", k, got[k], v)
				}
			}
			t.Logf("%v", got)
		})
	}
	t.Run("validates the message ext_authz decoded, not a second decode", func(t *testing.T) {
		other := &milvuspb.SearchRequest{}
		if err := proto.Unmarshal(searchBody(t, 4)[5:], other); err != nil {
			t.Fatal(err)
		}
		hs := srv.Preprocess(context.Background(), true, svc+"Search", "", "", searchBody(t, dim), other)
		if len(hs) != 1 || hs[0].GetHeader().GetKey() != edgehdr.Reject {
			t.Fatalf("Preprocess = %v, want the refusal of the decoded (dim 4) message", hs)
		}
	})
	t.Run("the sampled response watch: one call, marked for ext_proc", func(t *testing.T) {
		now = now.Add(50 * time.Millisecond)
		hs := srv.Preprocess(context.Background(), true, svc+"Search", "", "", searchBody(t, dim), nil)
		if len(hs) != 1 || hs[0].GetHeader().GetKey() != edgehdr.Watch {
			t.Fatalf("the call due for the watch: %v, want only %s", hs, edgehdr.Watch)
		}
		if hs := srv.Preprocess(context.Background(), true, svc+"Search", "", "", searchBody(t, dim), nil); len(hs) != 3 {
			t.Fatalf("the next call: %v, want it checked (the watch is taken)", hs)
		}
		p := processor{s: srv, ctx: context.Background()}
		r := p.requestHeaders(headers(":path", svc+"Search", "content-type", "application/grpc", edgehdr.Watch, "1"))
		if r.GetModeOverride() != watchMode || !p.watching {
			t.Fatalf("ext_proc on the marked call: mode %v watching %v", r.GetModeOverride(), p.watching)
		}
	})
}

// gzipFrame re-frames an uncompressed gRPC frame as a gzip-compressed one.
func gzipFrame(t *testing.T, frame []byte) []byte {
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	if _, err := zw.Write(frame[5:]); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out := []byte{1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(zb.Len()))
	return append(out, zb.Bytes()...)
}
