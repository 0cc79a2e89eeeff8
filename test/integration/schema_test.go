package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

func schemaStats(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	var st struct {
		SchemaCache map[string]float64 `json:"schema_cache"`
	}
	if err := json.Unmarshal([]byte(testenv.AdminGet(t, admin, "/v1/status")), &st); err != nil {
		t.Fatal(err)
	}
	return st.SchemaCache
}

// TestBackendAnswerInvalidatesSchema: a collection dropped directly at the
// backend (bypassing the edge) is noticed on the backend's first
// CollectionNotFound answer, not after the schema TTL (30 s here).
func TestBackendAnswerInvalidatesSchema(t *testing.T) {
	e, backend := oneBackend(t)
	edge, direct := testenv.Client(t, e.Ports.Listener), testenv.Client(t, backend)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 30*time.Second)
	defer cancel()
	schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: "moved", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "8"}}},
	}})
	if st, err := edge.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "moved", Schema: schema}); err != nil || st.GetCode() != 0 {
		t.Fatalf("create: %v %v", st, err)
	}
	query := func() *commonpb.Status {
		r, err := edge.Query(ctx, &milvuspb.QueryRequest{CollectionName: "moved", Expr: "id > 0", QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "3"}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	query() // fills the cache
	before := schemaStats(t, e.Ports.Admin)
	if st, err := direct.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "moved"}); err != nil || st.GetCode() != 0 {
		t.Fatalf("direct drop: %v %v", st, err)
	}
	// The cached schema still validates these calls and the backend answers
	// 100; ext_proc reads a sampled answer (one per watch_every, 50 ms) and
	// drops the schema.
	took := testenv.Eventually(t, 2*time.Second, "a sampled backend answer invalidates the schema", func() bool {
		if st := query(); st.GetCode() != 100 {
			t.Fatalf("query after the direct drop: %v, want code 100", st)
		}
		return schemaStats(t, e.Ports.Admin)["Invalidations"] > before["Invalidations"]
	})
	t.Logf("schema dropped %s after the direct drop (TTL 30 s)", took)
	upstream := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total")
	st := query()
	if st.GetCode() != 100 || !strings.HasPrefix(st.GetReason(), "collection not found[database=default][collection=moved]") {
		t.Fatalf("next query: %v, want the edge's CollectionNotFound", st)
	}
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total"); n != upstream {
		t.Fatalf("the edge's CollectionNotFound reached the backend (%d requests)", n-upstream)
	}
}
