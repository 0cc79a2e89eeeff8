package authz

import (
	"fmt"
	"log/slog"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/policy"
)

// TestShapedInputSameDecision: the input built for what the bundle reads
// (policy.Bundle.Input) gets the same decision as the whole input, for the
// default bundle and every example, over a spread of requests and callers;
// and requests with equal cache keys get equal decisions.
func TestShapedInputSameDecision(t *testing.T) {
	const svc = "/milvus.proto.milvus.MilvusService/"
	grpc := func(method string, m proto.Message) *authv3.CheckRequest {
		return checkReq("application/grpc", "", svc+method, framed(t, m))
	}
	rest := func(path, body string) *authv3.CheckRequest {
		return checkReq("application/json", "", path, []byte(body))
	}
	reqs := map[string]*authv3.CheckRequest{
		"search":             grpc("Search", &milvuspb.SearchRequest{CollectionName: "docs", Dsl: "id > 3", OutputFields: []string{"id", "email"}, Nq: 1}),
		"search a_docs":      grpc("Search", &milvuspb.SearchRequest{CollectionName: "a_docs", Nq: 2}),
		"search other db":    grpc("Search", &milvuspb.SearchRequest{DbName: "analytics", CollectionName: "docs"}),
		"query":              grpc("Query", &milvuspb.QueryRequest{CollectionName: "logs_1", Expr: "id > 0", OutputFields: []string{"ssn"}}),
		"insert":             grpc("Insert", &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 3}),
		"flush":              grpc("Flush", &milvuspb.FlushRequest{CollectionNames: []string{"docs", "a_x"}}),
		"create collection":  grpc("CreateCollection", &milvuspb.CreateCollectionRequest{CollectionName: "a_new"}),
		"show collections":   grpc("ShowCollections", &milvuspb.ShowCollectionsRequest{}),
		"select grant":       grpc("SelectGrant", &milvuspb.SelectGrantRequest{Entity: &milvuspb.GrantEntity{Role: &milvuspb.RoleEntity{Name: "reader"}}}),
		"select grant other": grpc("SelectGrant", &milvuspb.SelectGrantRequest{Entity: &milvuspb.GrantEntity{Role: &milvuspb.RoleEntity{Name: "admin"}}}),
		"rest search":        rest("/v2/vectordb/entities/search", `{"collectionName":"docs","limit":20000,"outputFields":["email"]}`),
		"rest role grants":   rest("/v2/vectordb/roles/describe", `{"roleName":"reader"}`),
	}
	ids := []Identity{
		{User: "root", Method: MethodPassword},
		{User: "root", Method: MethodJWT, Roles: []string{"reader"}, Claims: map[string]any{"groups": []any{"ml"}}},
		{User: "reader", Method: MethodPassword, Roles: []string{"reader"}},
		{User: "alice", Method: MethodPassword, Roles: []string{"tenant_a"}},
		{User: "key", Method: MethodAPIKey, Roles: []string{"readonly"}},
		{User: "nobody", Method: MethodPassword},
	}
	for _, dir := range []string{"", "../../examples/policies/tenant-isolation", "../../examples/policies/topk-cap", "../../examples/policies/pii-output-fields", "../../examples/policies/readonly-api-keys", "../../examples/policies/jwt-groups"} {
		t.Run(dir, func(t *testing.T) {
			e := policy.NewEngine(slog.New(slog.DiscardHandler), policy.Options{Dir: dir})
			defer e.Close()
			if err := e.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			b := e.Current()
			if b.Input.Whole() {
				t.Fatalf("bundle reads the whole input: nothing to compare")
			}
			byKey := map[string]string{}
			allowed := 0
			for name, req := range reqs {
				for _, id := range ids {
					full, _, err := BuildInput(req, id, "default", nil)
					if err != nil {
						t.Fatal(err)
					}
					shaped, _, _ := BuildInput(req, id, "default", b.Input)
					df, err1 := e.Eval(t.Context(), b, full, "")
					ds, err2 := e.Eval(t.Context(), b, shaped, "")
					if err1 != nil || err2 != nil || fmt.Sprint(df) != fmt.Sprint(ds) {
						t.Fatalf("%s as %s/%v: whole input %v %v, shaped %v %v", name, id.User, id.Roles, df, err1, ds, err2)
					}
					if df.Allow {
						allowed++
					}
					key, ok := b.CacheKey(shaped)
					if k2, _ := b.CacheKey(full); !ok || k2 != key {
						t.Fatalf("%s: cache key %v of the shaped input differs from the whole input's", name, ok)
					}
					if prev, seen := byKey[key]; seen && prev != fmt.Sprint(df) {
						t.Fatalf("%s as %s: equal cache keys, decisions %s and %v", name, id.User, prev, df)
					}
					byKey[key] = fmt.Sprint(df)
				}
			}
			if allowed == 0 || allowed == len(reqs)*len(ids) {
				t.Fatalf("%d of %d allowed: the cases do not tell decisions apart", allowed, len(reqs)*len(ids))
			}
			t.Logf("%d cases, %d allowed, %d distinct cache keys; reads %s", len(reqs)*len(ids), allowed, len(byKey), b.Input)
		})
	}
}
