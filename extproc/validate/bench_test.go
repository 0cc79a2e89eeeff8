package validate

import (
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

const benchDim = 768

// benchSchema is pk (Int64), title (VarChar 128), vec (FloatVector 768).
func benchSchema(t testing.TB) *Schema {
	pk := fld(100, "pk", schemapb.DataType_Int64)
	pk.IsPrimaryKey = true
	return mustSchema(t, &schemapb.CollectionSchema{Name: "bench", Fields: []*schemapb.FieldSchema{
		pk,
		fld(101, "title", schemapb.DataType_VarChar, "max_length", "128"),
		fld(102, "vec", schemapb.DataType_FloatVector, "dim", strconv.Itoa(benchDim)),
	}}, []string{"_default"})
}

func benchVector(dim, seed int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32((i*31+seed)%97) / 97
	}
	return v
}

// search768 is a one-vector search on the 768-dim field.
func search768(t testing.TB) *milvuspb.SearchRequest {
	r := searchReq(t, floatGroup(t, benchVector(benchDim, 1)), "anns_field", "vec", "topk", "10", "metric_type", "COSINE", "params", `{"ef":64}`)
	r.CollectionName = "bench"
	r.OutputFields = []string{"title"}
	r.Dsl = "pk > 10"
	return r
}

// insert1MiB is 340 rows of a 768-dim vector, an int64 key and a varchar:
// about 1 MiB on the wire.
func insert1MiB() *milvuspb.InsertRequest {
	const rows = 340
	pks := make([]int64, rows)
	titles := make([]string, rows)
	vecs := make([]float32, 0, rows*benchDim)
	for i := range pks {
		pks[i] = int64(i)
		titles[i] = "document title number " + strconv.Itoa(i)
		vecs = append(vecs, benchVector(benchDim, i)...)
	}
	return &milvuspb.InsertRequest{CollectionName: "bench", NumRows: rows, FieldsData: []*schemapb.FieldData{
		longCol("pk", pks...), strCol("title", titles...), vecCol("vec", benchDim, vecs...),
	}}
}

func BenchmarkSearch768(b *testing.B) {
	s, req := benchSchema(b), search768(b)
	b.SetBytes(int64(proto.Size(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Search(req, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInsert1MiB(b *testing.B) {
	s, req := benchSchema(b), insert1MiB()
	b.SetBytes(int64(proto.Size(req)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Insert(req, s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHotPathAllocations pins the allocation budget of accepted requests:
// validation must not allocate on the hot path.
func TestHotPathAllocations(t *testing.T) {
	s := benchSchema(t)
	search, insert := search768(t), insert1MiB()
	hybrid := &milvuspb.HybridSearchRequest{CollectionName: "bench", RankParams: kv("limit", "10"),
		Requests: []*milvuspb.SearchRequest{search768(t), search768(t)}}
	for _, tc := range []struct {
		name   string
		budget float64
		run    func() *Error
	}{
		{"search", 0, func() *Error { return Search(search, s) }},
		{"insert", 0, func() *Error { return Insert(insert, s) }},
		{"hybrid search", 0, func() *Error { return HybridSearch(hybrid, s) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(50, func() { _ = tc.run() }); n > tc.budget {
				t.Fatalf("%v allocations per run, budget %v", n, tc.budget)
			}
		})
	}
}
