package gosdk

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/column"
	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
)

const (
	crudCollection = "gosdk_crud"
	dim            = 8
	numRows        = 1000
	topK           = 10
)

func newClient(ctx context.Context, t *testing.T, addr, user, password string) *milvusclient.Client {
	t.Helper()
	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr, Username: user, Password: password})
	if err != nil {
		t.Fatalf("connecting to %s as %q: %v", addr, user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func tagOf(id int64) string { return fmt.Sprintf("t%d", id%10) }

// int64s reads a whole column as int64s.
func int64s(t *testing.T, col column.Column) []int64 {
	t.Helper()
	if col == nil {
		t.Fatal("missing column")
	}
	out := make([]int64, col.Len())
	for i := range out {
		v, err := col.GetAsInt64(i)
		if err != nil {
			t.Fatalf("column %s[%d]: %v", col.Name(), i, err)
		}
		out[i] = v
	}
	return out
}

func TestCRUDThroughEdge(t *testing.T) {
	s := edgeStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	edge := newClient(ctx, t, s.EdgeAddr, "root", "Milvus")
	direct := newClient(ctx, t, s.BackendAddr, "root", "Milvus")
	t.Cleanup(func() { // leave the shared backend clean if we fail half-way
		_ = direct.DropCollection(context.Background(), milvusclient.NewDropCollectionOption(crudCollection))
	})

	has, err := edge.HasCollection(ctx, milvusclient.NewHasCollectionOption(crudCollection))
	if err != nil {
		t.Fatalf("HasCollection via edge: %v", err)
	}
	if has {
		t.Fatalf("%s exists before the test created it", crudCollection)
	}

	// Create.
	schema := entity.NewSchema().WithName(crudCollection).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true).WithIsAutoID(false)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim)).
		WithField(entity.NewField().WithName("tag").WithDataType(entity.FieldTypeVarChar).WithMaxLength(64))
	if err := edge.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(crudCollection, schema)); err != nil {
		t.Fatalf("CreateCollection via edge: %v", err)
	}
	if has, err := direct.HasCollection(ctx, milvusclient.NewHasCollectionOption(crudCollection)); err != nil || !has {
		t.Fatalf("backend HasCollection after create via edge = %v, %v; want true", has, err)
	}

	// Insert 1,000 deterministic rows.
	rng := rand.New(rand.NewPCG(20240601, 8))
	ids := make([]int64, numRows)
	vecs := make([][]float32, numRows)
	tags := make([]string, numRows)
	for i := range numRows {
		ids[i] = int64(i)
		tags[i] = tagOf(int64(i))
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()*2 - 1
		}
		vecs[i] = v
	}
	ins, err := edge.Insert(ctx, milvusclient.NewColumnBasedInsertOption(crudCollection).
		WithInt64Column("id", ids).
		WithFloatVectorColumn("vec", dim, vecs).
		WithVarcharColumn("tag", tags))
	if err != nil {
		t.Fatalf("Insert via edge: %v", err)
	}
	if ins.InsertCount != numRows {
		t.Fatalf("InsertCount = %d, want %d", ins.InsertCount, numRows)
	}
	if got := int64s(t, ins.IDs); !slices.Equal(got, ids) {
		t.Fatalf("Insert returned %d ids (first %v), want 0..%d", len(got), got[:min(5, len(got))], numRows-1)
	}

	// Index + load.
	idxTask, err := edge.CreateIndex(ctx, milvusclient.NewCreateIndexOption(crudCollection, "vec", index.NewHNSWIndex(entity.COSINE, 16, 200)))
	if err != nil {
		t.Fatalf("CreateIndex via edge: %v", err)
	}
	if err := idxTask.Await(ctx); err != nil {
		t.Fatalf("awaiting index via edge: %v", err)
	}
	loadTask, err := edge.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(crudCollection))
	if err != nil {
		t.Fatalf("LoadCollection via edge: %v", err)
	}
	if err := loadTask.Await(ctx); err != nil {
		t.Fatalf("awaiting load via edge: %v", err)
	}

	// Search: the query is row 123's own vector, so it must be the top hit (COSINE ≈ 1),
	// and the edge must return exactly what the backend returns directly.
	const probe = 123
	search := func(c *milvusclient.Client, via string) ([]int64, []float32) {
		t.Helper()
		rs, err := c.Search(ctx, milvusclient.NewSearchOption(crudCollection, topK, []entity.Vector{entity.FloatVector(vecs[probe])}).
			WithANNSField("vec").
			WithAnnParam(index.NewHNSWAnnParam(64)).
			WithOutputFields("tag").
			WithConsistencyLevel(entity.ClStrong))
		if err != nil {
			t.Fatalf("Search via %s: %v", via, err)
		}
		if len(rs) != 1 {
			t.Fatalf("Search via %s: %d result sets, want 1 (nq=1)", via, len(rs))
		}
		if rs[0].Err != nil {
			t.Fatalf("Search via %s: result error %v", via, rs[0].Err)
		}
		got := int64s(t, rs[0].IDs)
		tagCol := rs[0].GetColumn("tag")
		if tagCol == nil || tagCol.Len() != len(got) {
			t.Fatalf("Search via %s: output field tag missing or wrong length", via)
		}
		for i, id := range got {
			tag, err := tagCol.GetAsString(i)
			if err != nil || tag != tagOf(id) {
				t.Fatalf("Search via %s: hit %d id %d has tag %q (%v), want %q", via, i, id, tag, err, tagOf(id))
			}
		}
		return got, rs[0].Scores
	}
	edgeIDs, edgeScores := search(edge, "edge")
	directIDs, directScores := search(direct, "backend")
	if len(edgeIDs) != topK {
		t.Fatalf("edge search returned %d ids, want %d: %v", len(edgeIDs), topK, edgeIDs)
	}
	if !slices.Equal(edgeIDs, directIDs) {
		t.Fatalf("top-%d ids differ:\n edge:    %v\n backend: %v", topK, edgeIDs, directIDs)
	}
	if len(edgeScores) != topK || len(directScores) != topK {
		t.Fatalf("scores: edge %d, backend %d, want %d each", len(edgeScores), len(directScores), topK)
	}
	for i := range edgeScores {
		if math.Abs(float64(edgeScores[i]-directScores[i])) > 1e-5 {
			t.Fatalf("score %d differs: edge %v backend %v", i, edgeScores[i], directScores[i])
		}
	}
	if edgeIDs[0] != probe || edgeScores[0] < 0.999 {
		t.Fatalf("top hit = id %d score %v, want id %d with COSINE ≈ 1", edgeIDs[0], edgeScores[0], probe)
	}
	t.Logf("top-%d via edge == via backend: %v", topK, edgeIDs)

	// Query with a filter.
	queryIDs := func(c *milvusclient.Client, via, filter string) []int64 {
		t.Helper()
		rs, err := c.Query(ctx, milvusclient.NewQueryOption(crudCollection).
			WithFilter(filter).
			WithOutputFields("id", "tag").
			WithConsistencyLevel(entity.ClStrong))
		if err != nil {
			t.Fatalf("Query %q via %s: %v", filter, via, err)
		}
		if rs.ResultCount == 0 {
			return nil
		}
		got := int64s(t, rs.GetColumn("id"))
		tagCol := rs.GetColumn("tag")
		if tagCol == nil || tagCol.Len() != len(got) {
			t.Fatalf("Query %q via %s: tag column missing or wrong length", filter, via)
		}
		for i, id := range got {
			if tag, err := tagCol.GetAsString(i); err != nil || tag != tagOf(id) {
				t.Fatalf("Query %q via %s: id %d tag %q (%v), want %q", filter, via, id, tag, err, tagOf(id))
			}
		}
		if rs.ResultCount != len(got) {
			t.Fatalf("Query %q via %s: ResultCount %d but %d ids", filter, via, rs.ResultCount, len(got))
		}
		slices.Sort(got)
		return got
	}
	span := func(lo, hi int64) []int64 {
		var out []int64
		for i := lo; i < hi; i++ {
			out = append(out, i)
		}
		return out
	}
	if got := queryIDs(edge, "edge", "id < 100"); !slices.Equal(got, span(0, 100)) {
		t.Fatalf("query id < 100 via edge: %d ids %v, want 0..99", len(got), got)
	}
	if got := queryIDs(edge, "edge", `id < 100 and tag == "t3"`); !slices.Equal(got, []int64{3, 13, 23, 33, 43, 53, 63, 73, 83, 93}) {
		t.Fatalf(`query id < 100 and tag == "t3" via edge: %v`, got)
	}

	// Delete by filter, then verify through both paths.
	del, err := edge.Delete(ctx, milvusclient.NewDeleteOption(crudCollection).WithExpr("id < 10"))
	if err != nil {
		t.Fatalf("Delete via edge: %v", err)
	}
	if del.DeleteCount != 10 {
		t.Fatalf("DeleteCount = %d, want 10", del.DeleteCount)
	}
	if got := queryIDs(edge, "edge", "id < 10"); len(got) != 0 {
		t.Fatalf("after delete, query id < 10 via edge still returns %v", got)
	}
	if got := queryIDs(direct, "backend", "id < 10"); len(got) != 0 {
		t.Fatalf("after delete, query id < 10 on backend still returns %v", got)
	}
	if got := queryIDs(edge, "edge", "id < 100"); !slices.Equal(got, span(10, 100)) {
		t.Fatalf("after delete, query id < 100 via edge: %d ids %v, want 10..99", len(got), got)
	}

	// Drop through the edge; the backend must no longer have it.
	if err := edge.DropCollection(ctx, milvusclient.NewDropCollectionOption(crudCollection)); err != nil {
		t.Fatalf("DropCollection via edge: %v", err)
	}
	has, err = direct.HasCollection(ctx, milvusclient.NewHasCollectionOption(crudCollection))
	if err != nil {
		t.Fatalf("HasCollection on backend after drop: %v", err)
	}
	if has {
		t.Fatalf("backend still has %s after DropCollection via edge", crudCollection)
	}
}
