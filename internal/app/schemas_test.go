package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
)

// Schema fills carry the cluster's credential (clusters[].credential) as
// Milvus gRPC authorization in either forwarding mode, none for a cluster
// without one, and a reload that changes the password file applies to the
// next fill.
func TestSchemaFillsSendClusterCredential(t *testing.T) {
	addr, f := fakemilvus.Start(t)
	f.Add(fakemilvus.Collection{Schema: &schemapb.CollectionSchema{Name: "books", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "4"}}},
	}}})
	pw := filepath.Join(t.TempDir(), "pw")
	t.Setenv("EDGE_TEST_SVC_TOKEN", "svc-token")
	parse := func(password string) *config.Config {
		t.Helper()
		if err := os.WriteFile(pw, []byte(password), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
clusters:
  - {name: pass, credential: {user: root, password_file: %[2]s}, endpoints: [{address: %[1]s}]}
  - {name: svc, forward: service, credential: {token_env: EDGE_TEST_SVC_TOKEN}, endpoints: [{address: %[1]s}]}
  - {name: none, endpoints: [{address: %[1]s}]}
routes: [{cluster: pass}]
`, addr, pw)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	s, err := NewSchemaStore(parse("Milvus"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	b64 := func(v string) []string { return []string{base64.StdEncoding.EncodeToString([]byte(v))} }
	fill := func(cluster string, want []string) {
		t.Helper()
		s.InvalidateAll()
		if _, _, err := s.Get(context.Background(), cluster, "default", "books"); err != nil {
			t.Fatalf("fill from %s: %v", cluster, err)
		}
		for _, m := range []string{fakemilvus.DescribeCollection, fakemilvus.ShowPartitions} {
			if got := f.Metadata(m).Get("authorization"); !slices.Equal(got, want) {
				t.Errorf("%s on %s: authorization %q, want %q", m, cluster, got, want)
			}
		}
	}
	fill("pass", b64("root:Milvus"))
	fill("svc", b64("svc-token"))
	fill("none", nil)
	s.Update(parse("Changed"))
	fill("pass", b64("root:Changed"))
}
