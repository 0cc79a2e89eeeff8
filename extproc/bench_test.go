package extproc

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"strconv"
	"testing"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/validate"
)

// fixedSchemas is a cache that always hits (the benchmark measures ext_proc, not the fill).
type fixedSchemas struct{ s *validate.Schema }

func (f fixedSchemas) Get(context.Context, string, string, string) (*validate.Schema, string, error) {
	return f.s, "", nil
}
func (fixedSchemas) Invalidate(string, string, string) {}
func (fixedSchemas) InvalidateDB(string, string)       {}

func benchSchema(b testing.TB, dim int) *validate.Schema {
	cs := &schemapb.CollectionSchema{Name: "docs", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
		{FieldID: 102, Name: "title", DataType: schemapb.DataType_VarChar, TypeParams: []*commonpb.KeyValuePair{{Key: "max_length", Value: "256"}}},
	}}
	s, err := validate.NewSchema(cs, []string{"_default"})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func frameOf(b testing.TB, m proto.Message) []byte {
	raw, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 5, 5+len(raw))
	binary.BigEndian.PutUint32(out[1:], uint32(len(raw)))
	return append(out, raw...)
}

func searchBody(b testing.TB, dim int) []byte {
	vec := make([]byte, 4*dim)
	for i := 0; i < dim; i++ {
		binary.LittleEndian.PutUint32(vec[4*i:], math.Float32bits(float32(i)/float32(dim)))
	}
	pg, _ := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{
		Tag: "$0", Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{vec},
	}}})
	return frameOf(b, &milvuspb.SearchRequest{
		CollectionName: "docs", Dsl: "id > 10", OutputFields: []string{"title"}, Nq: 1,
		SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: pg},
		SearchParams: []*commonpb.KeyValuePair{
			{Key: "anns_field", Value: "vec"}, {Key: "topk", Value: "10"}, {Key: "metric_type", Value: "COSINE"}, {Key: "params", Value: `{"ef":64}`},
		},
	})
}

func insertBody(b testing.TB, rows, dim int) []byte {
	ids := make([]int64, rows)
	titles := make([]string, rows)
	vecs := make([]float32, rows*dim)
	for i := range ids {
		ids[i] = int64(i)
		titles[i] = "title " + strconv.Itoa(i)
	}
	for i := range vecs {
		vecs[i] = float32(i%97) / 97
	}
	return frameOf(b, &milvuspb.InsertRequest{CollectionName: "docs", NumRows: uint32(rows), FieldsData: []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{FieldName: "vec", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
		{FieldName: "title", Type: schemapb.DataType_VarChar, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: titles}}}}},
	}})
}

// BenchmarkProcess measures ext_proc's request-body phase end to end: frame
// decode, name scan, schema lookup (cache hit), full decode, validation, the
// db_name rewrite from the dbname header, and the response it builds.
func BenchmarkProcess(b *testing.B) {
	const dim = 768
	srv := New(Config{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 64 << 20,
		Schemas: fixedSchemas{benchSchema(b, dim)}, Router: func(string, string) string { return "default" },
	})
	for _, tc := range []struct {
		name, method string
		body         []byte
		dbHeader     string
	}{
		{"search-dim768", "Search", searchBody(b, dim), ""},
		{"search-dim768-db-rewrite", "Search", searchBody(b, dim), "tenant"},
		{"insert-1MiB", "Insert", insertBody(b, 330, dim), ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hs := headers(":path", "/milvus.proto.milvus.MilvusService/"+tc.method, "content-type", "application/grpc", "dbname", tc.dbHeader)
			body := &extprocsvc.HttpBody{Body: tc.body, EndOfStream: true}
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				p := processor{s: srv, ctx: context.Background()}
				p.requestHeaders(hs)
				r := p.requestBody(body)
				if key, _ := routeKey(r); key == "" {
					b.Fatalf("not routed (rejected?): %v", r)
				}
			}
		})
	}
}
