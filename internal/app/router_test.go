package app

import (
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

func TestRouterMatchesEnvoyRules(t *testing.T) {
	cfg, err := config.Parse([]byte(`
clusters:
  - {name: a, endpoints: [{address: 10.0.0.1:1}]}
  - {name: b, endpoints: [{address: 10.0.0.2:1}]}
  - {name: c, endpoints: [{address: 10.0.0.3:1}]}
routes:
  - {collection: "tenant_a_*", cluster: a}
  - {database: analytics, collection: "ev_??", cluster: c}
  - {database: "x*", weighted: [{cluster: c, weight: 1}, {cluster: a, weight: 9}]}
  - {cluster: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := NewRouter(cfg)
	for _, tc := range []struct{ db, coll, want string }{
		{"default", "tenant_a_docs", "a"},
		{"default", "xtenant_a_docs", "b"},
		{"analytics", "ev_01", "c"},
		{"analytics", "ev_012", "b"},
		{"xdb", "anything", "c"},
		{"default", "", "b"},
	} {
		if got := r.Cluster(tc.db, tc.coll); got != tc.want {
			t.Errorf("Cluster(%q, %q) = %q, want %q", tc.db, tc.coll, got, tc.want)
		}
	}
}
