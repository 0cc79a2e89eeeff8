package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

const (
	extProcStreams = "http.milvus.ext_proc.streams_started"
	upstreamTotal  = "cluster.default.upstream_rq_total"
)

// TestSinglePass: with edge.single_pass (the default) ext_authz decodes,
// validates and routes the calls whose whole body it receives, and Envoy
// skips ext_proc for them; ext_proc still runs for DDL, for bodies larger
// than ext_authz's buffer and for db_name rewrites. With single_pass off,
// every such call takes ext_proc. Clients see the same answers either way.
// The in-process module (edge.filters: in_process) runs the single pass
// inside Envoy and must agree call for call: same answers, same calls left
// to ext_proc, same calls kept from the backend.
func TestSinglePass(t *testing.T) {
	for _, mode := range []struct {
		name, filters string
		on            bool
	}{
		{"single_pass=true", "external", true},
		{"single_pass=false", "external", false},
		{"in_process", "in_process", true},
	} {
		on := mode.on
		t.Run(mode.name, func(t *testing.T) {
			testenv.Setup(t)
			backend := testenv.MilvusLite(t)
			p := testenv.NewPorts(t)
			head := strings.Replace(p.ConfigHeadFor(mode.filters), "edge: {", fmt.Sprintf("edge: {single_pass: %v, ", on), 1)
			e := testenv.Run(t, head+fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
auth: {max_body_bytes: 8192}
validation: {watch_every: 1h}
`, backend), p)
			c := testenv.Client(t, e.Ports.Listener)
			ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 30*time.Second)
			defer cancel()
			streams := func() int { return testenv.Counter(t, e.Ports.EnvoyAdmin, extProcStreams) }
			upstream := func() int { return testenv.Counter(t, e.Ports.EnvoyAdmin, upstreamTotal) }
			// expect runs one call and checks whether ext_proc saw it and
			// whether it reached the backend.
			expect := func(what string, proc, reached bool, call func() *commonpb.Status, wantCode int32, wantReason string) {
				t.Helper()
				s0, u0 := streams(), upstream()
				st := call()
				if st.GetCode() != wantCode || !strings.HasPrefix(st.GetReason(), wantReason) {
					t.Fatalf("%s: status %v, want code %d %q", what, st, wantCode, wantReason)
				}
				if got := streams() - s0; got != b2i(proc) {
					t.Errorf("%s: ext_proc streams +%d, want +%d", what, got, b2i(proc))
				}
				if got := upstream() - u0; got != b2i(reached) {
					t.Errorf("%s: backend saw +%d requests, want +%d", what, got, b2i(reached))
				}
			}
			schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: "sp", Fields: []*schemapb.FieldSchema{
				{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
				{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "8"}}},
			}})
			expect("CreateCollection (DDL)", true, true, func() *commonpb.Status {
				st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "sp", Schema: schema})
				must(t, err)
				return st
			}, 0, "")
			insert := func(n int) func() *commonpb.Status {
				return func() *commonpb.Status {
					r, err := c.Insert(ctx, insertRequest("sp", n, 8))
					must(t, err)
					return r.GetStatus()
				}
			}
			// The first validated call fills the schema cache and is the
			// sampled response watch (one per watch_every: 1h here), which
			// ext_proc serves; the calls after it are steady state.
			expect("first Insert (the sampled response watch)", true, true, insert(1), 0, "")
			expect("small Insert", !on, true, insert(10), 0, "")
			expect("Insert larger than auth.max_body_bytes", true, true, insert(400), 0, "")
			search := func(dim int) func() *commonpb.Status {
				return func() *commonpb.Status {
					r, err := c.Search(ctx, searchRequest("sp", dim))
					must(t, err)
					return r.GetStatus()
				}
			}
			expect("Search", !on, true, search(8), 0, "")
			expect("Search with the wrong dim (refused, typed)", !on, false, search(4), 65535, "vector dimension mismatch, expected vector size(byte) 32, actual 16.")
			expect("Query of an unknown collection (refused, typed)", !on, false, func() *commonpb.Status {
				r, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: "nope", Expr: "id > 0"})
				must(t, err)
				return r.GetStatus()
			}, 100, "collection not found[database=default][collection=nope]")
			expect("dbname header without db_name (body rewrite)", true, true, func() *commonpb.Status {
				r, err := c.HasCollection(metadata.AppendToOutgoingContext(ctx, "dbname", "default"), &milvuspb.HasCollectionRequest{CollectionName: "sp"})
				must(t, err)
				return r.GetStatus()
			}, 0, "")
			// A client's copy of the edge's header is stripped before ext_authz.
			expect("spoofed x-milvus-edge-checked on a body rewrite", true, true, func() *commonpb.Status {
				md := metadata.AppendToOutgoingContext(ctx, "dbname", "default", "x-milvus-edge-checked", "1")
				r, err := c.HasCollection(md, &milvuspb.HasCollectionRequest{CollectionName: "sp"})
				must(t, err)
				return r.GetStatus()
			}, 0, "")
			// REST v2: a refusal is Milvus's JSON, answered by ext_proc either way.
			expectREST := func(what string, proc bool, reached int, api, body, wantInBody string) {
				t.Helper()
				s0, u0 := streams(), upstream()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+e.Ports.Listener+"/v2/vectordb/"+api, strings.NewReader(body))
				req.Header.Set("content-type", "application/json")
				req.Header.Set("authorization", "Bearer root:Milvus")
				resp, err := http.DefaultClient.Do(req)
				must(t, err)
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if wantInBody != "" && !strings.Contains(string(got), wantInBody) {
					t.Fatalf("%s: %d %s, want %q in the body", what, resp.StatusCode, got, wantInBody)
				}
				if n := streams() - s0; n != b2i(proc) {
					t.Errorf("%s: ext_proc streams +%d, want +%d", what, n, b2i(proc))
				}
				if n := upstream() - u0; n != reached {
					t.Errorf("%s: backend saw +%d requests, want +%d", what, n, reached)
				}
			}
			// milvus-lite serves no REST; the call still shows where it went.
			// It resets the REST query, a read, which Envoy then retries once
			// (docs/failover.md): the backend sees it twice. The DDL is not retried.
			expectREST("REST query", !on, 2, "entities/query", `{"collectionName":"sp","filter":"id > 0"}`, "")
			expectREST("REST query with a bad name (refused)", true, 0, "entities/query", `{"collectionName":"1abc"}`, `"code":1100`)
			expectREST("REST DDL (its answer may invalidate)", true, 1, "collections/drop", `{"collectionName":"nope"}`, "")
			// The cases of the unit agreement test (extproc
			// TestPreprocessAgreesWithExtProc) that a client can send.
			expect("gzip Search", !on, true, func() *commonpb.Status {
				r, err := c.Search(ctx, searchRequest("sp", 8), grpc.UseCompressor(gzip.Name))
				must(t, err)
				return r.GetStatus()
			}, 0, "")
			expect("gzip Search with the wrong dim (refused, typed)", !on, false, func() *commonpb.Status {
				r, err := c.Search(ctx, searchRequest("sp", 4), grpc.UseCompressor(gzip.Name))
				must(t, err)
				return r.GetStatus()
			}, 65535, "vector dimension mismatch")
			expect("Query with db_name in the body", !on, true, func() *commonpb.Status {
				r, err := c.Query(ctx, &milvuspb.QueryRequest{DbName: "default", CollectionName: "sp", Expr: "id > 0", OutputFields: []string{"id"}})
				must(t, err)
				return r.GetStatus()
			}, 0, "")
			expect("a bad collection name (refused, typed)", !on, false, func() *commonpb.Status {
				r, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "1abc"})
				must(t, err)
				return r.GetStatus()
			}, 1100, "")
			expect("a call without names (skip-processing route)", false, true, func() *commonpb.Status {
				r, err := c.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
				must(t, err)
				return r.GetStatus()
			}, 0, "")
			expect("HasCollection", !on, true, func() *commonpb.Status {
				r, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "sp"})
				must(t, err)
				if !r.GetValue() {
					t.Fatalf("HasCollection(sp) = false")
				}
				return r.GetStatus()
			}, 0, "")
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func insertRequest(coll string, n, dim int) *milvuspb.InsertRequest {
	ids := make([]int64, n)
	vec := make([]float32, n*dim)
	for i := range ids {
		ids[i] = int64(i + 1)
		for j := 0; j < dim; j++ {
			vec[i*dim+j] = float32(i+j) / 10
		}
	}
	return &milvuspb.InsertRequest{CollectionName: coll, NumRows: uint32(n), FieldsData: []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
			Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{FieldName: "vec", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
			Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vec}}}}},
	}}
}

func searchRequest(coll string, dim int) *milvuspb.SearchRequest {
	v := make([]byte, 4*dim)
	for i := 0; i < dim; i++ {
		binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(float32(i)/10))
	}
	pg, _ := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{
		{Tag: "$0", Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{v}},
	}})
	return &milvuspb.SearchRequest{CollectionName: coll, Dsl: "", DslType: commonpb.DslType_BoolExprV1, SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: pg}, Nq: 1,
		SearchParams: []*commonpb.KeyValuePair{{Key: "anns_field", Value: "vec"}, {Key: "topk", Value: "3"}, {Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"}}}
}
