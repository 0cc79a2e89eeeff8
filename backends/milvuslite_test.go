package backends_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// Describe against a real milvus-lite: schema, partitions, alias, database,
// and not-found. Fails (never skips) when milvus-lite cannot start.
func TestDescribeMilvusLite(t *testing.T) {
	addr := testenv.MilvusLite(t)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := milvuspb.NewMilvusServiceClient(conn)
	ctx := context.Background()
	createCollection(t, m, "", "books")
	must(t, "CreatePartition", call(m.CreatePartition(ctx, &milvuspb.CreatePartitionRequest{CollectionName: "books", PartitionName: "p1"})))
	must(t, "CreateAlias", call(m.CreateAlias(ctx, &milvuspb.CreateAliasRequest{CollectionName: "books", Alias: "novels"})))
	must(t, "CreateDatabase", call(m.CreateDatabase(ctx, &milvuspb.CreateDatabaseRequest{DbName: "analytics"})))
	createCollection(t, m, "analytics", "logs")

	p := newPool(t, map[string][]string{"c1": {addr}})
	for _, name := range []string{"books", "novels"} {
		c, err := p.Describe(ctx, "c1", "", name)
		if err != nil {
			t.Fatalf("Describe(%s): %v", name, err)
		}
		assertTestSchema(t, c.Schema)
		if c.CollectionName != "books" || c.DB != "default" ||
			!slices.Contains(c.Partitions, "_default") || !slices.Contains(c.Partitions, "p1") || !slices.Contains(c.Aliases, "novels") {
			t.Fatalf("Describe(%s) = {%s %s %v %v}", name, c.CollectionName, c.DB, c.Partitions, c.Aliases)
		}
	}
	c, err := p.Describe(ctx, "c1", "analytics", "logs")
	if err != nil || c.CollectionName != "logs" || c.DB != "analytics" {
		t.Fatalf("Describe(analytics/logs) = %+v, %v", c, err)
	}
	assertTestSchema(t, c.Schema)
	for _, tc := range []struct{ db, coll string }{{"", "nope"}, {"default", "logs"}, {"nodb", "books"}} {
		_, err := p.Describe(ctx, "c1", tc.db, tc.coll)
		t.Logf("Describe(%q, %q): %v", tc.db, tc.coll, err)
		if !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Describe(%q, %q) = %v, want ErrNotFound", tc.db, tc.coll, err)
		}
	}
}

func assertTestSchema(t *testing.T, s *schemapb.CollectionSchema) {
	t.Helper()
	byName := map[string]*schemapb.FieldSchema{}
	for _, f := range s.GetFields() {
		byName[f.GetName()] = f
	}
	id, vec := byName["id"], byName["vec"]
	if id.GetDataType() != schemapb.DataType_Int64 || !id.GetIsPrimaryKey() {
		t.Errorf("field id = %v, want an Int64 primary key", id)
	}
	dim := ""
	for _, kv := range vec.GetTypeParams() {
		if kv.GetKey() == "dim" {
			dim = kv.GetValue()
		}
	}
	if vec.GetDataType() != schemapb.DataType_FloatVector || dim != "8" || vec.GetIsPrimaryKey() {
		t.Errorf("field vec = %v, want FloatVector dim 8", vec)
	}
}

func createCollection(t *testing.T, m milvuspb.MilvusServiceClient, db, name string) {
	t.Helper()
	b, err := proto.Marshal(testSchema(name))
	if err != nil {
		t.Fatal(err)
	}
	must(t, "CreateCollection "+name, call(m.CreateCollection(context.Background(),
		&milvuspb.CreateCollectionRequest{DbName: db, CollectionName: name, Schema: b, ShardsNum: 1})))
}

func call(st *commonpb.Status, err error) error {
	if err != nil {
		return err
	}
	if st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
		return errors.New(st.GetReason())
	}
	return nil
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
