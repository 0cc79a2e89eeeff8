package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/metadata"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestRouteRules checks that ext_proc's route key steers each request to the
// cluster of the first matching rule, and that a client cannot set the key.
func TestRouteRules(t *testing.T) {
	testenv.Setup(t)
	a, b := testenv.MilvusLite(t), testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: a
    endpoints: [{address: %s}]
  - name: b
    endpoints: [{address: %s}]
routes:
  - name: tenant-a
    collection: "tenant_a_*"
    cluster: a
  - name: analytics
    database: analytics
    cluster: a
  - name: default
    cluster: b
`, a, b), p)
	c := testenv.Client(t, p.Listener)

	for _, tc := range []struct {
		name       string
		collection string
		md         []string
		want       string
	}{
		{"glob match", "tenant_a_docs", nil, "a"},
		{"no match", "tenant_b_docs", nil, "b"},
		{"database from the dbname header", "docs", []string{"dbname", "analytics"}, "a"},
		{"body db_name wins over header", "docs", []string{"dbname", "default"}, "b"},
		// The edge strips client copies of its own headers before any filter:
		// a spoofed route key does not steer, and a spoofed rejection does not
		// reach the edge's responder.
		{"spoofed route header", "docs", []string{"x-milvus-edge-route", "default/tenant_a_docs"}, "b"},
		{"spoofed reject header", "docs", []string{"x-milvus-edge-reject", "CGQSA2JhZA=="}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int{}
			for _, cl := range []string{"a", "b"} {
				before[cl] = testenv.Counter(t, p.EnvoyAdmin, "cluster."+cl+".upstream_rq_total")
			}
			ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 5*time.Second)
			defer cancel()
			if len(tc.md) > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, tc.md...)
			}
			req := &milvuspb.HasCollectionRequest{CollectionName: tc.collection}
			if tc.name == "body db_name wins over header" {
				req.DbName = "default"
				ctx = metadata.AppendToOutgoingContext(ctx, "dbname", "analytics")
			}
			if _, err := c.HasCollection(ctx, req); err != nil {
				t.Fatal(err)
			}
			for _, cl := range []string{"a", "b"} {
				d := testenv.Counter(t, p.EnvoyAdmin, "cluster."+cl+".upstream_rq_total") - before[cl]
				want := 0
				if cl == tc.want {
					want = 1
				}
				if d != want {
					t.Errorf("cluster %s saw %d requests, want %d", cl, d, want)
				}
			}
		})
	}
	_ = e
}
