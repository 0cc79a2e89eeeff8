package milvusgrpc

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestLookupREST(t *testing.T) {
	if len(restMethods) != len(restAPIs) {
		for p, api := range restAPIs {
			if _, ok := Lookup(ServicePrefix + api); !ok {
				t.Errorf("%s: RPC %s not in the method table", p, api)
			}
		}
	}
	for path, want := range map[string]struct{ api, objType, priv string }{
		"/v2/vectordb/entities/search":                  {"Search", "Collection", "Search"},
		"/v2/vectordb/entities/hybrid_search":           {"HybridSearch", "Collection", "Search"},
		"/v2/vectordb/entities/query?x=1":               {"Query", "Collection", "Query"},
		"/v2/vectordb/entities/get":                     {"Query", "Collection", "Query"},
		"/v2/vectordb/entities/insert":                  {"Insert", "Collection", "Insert"},
		"/v2/vectordb/entities/upsert":                  {"Upsert", "Collection", "Upsert"},
		"/v2/vectordb/entities/delete":                  {"Delete", "Collection", "Delete"},
		"/v2/vectordb/collections/create":               {"CreateCollection", "Global", "CreateCollection"},
		"/v2/vectordb/collections/describe":             {"DescribeCollection", "Global", "DescribeCollection"},
		"/v2/vectordb/collections/list":                 {"ShowCollections", "", ""},
		"/v2/vectordb/collections/has":                  {"HasCollection", "", ""},
		"/v2/vectordb/collections/load":                 {"LoadCollection", "Collection", "Load"},
		"/v2/vectordb/collections/get_stats":            {"GetCollectionStatistics", "Collection", "GetStatistics"},
		"/v2/vectordb/collections/get_load_state":       {"GetLoadState", "Collection", "GetLoadState"},
		"/v2/vectordb/collections/flush":                {"Flush", "Collection", "Flush"},
		"/v2/vectordb/indexes/describe":                 {"DescribeIndex", "Collection", "IndexDetail"},
		"/v2/vectordb/partitions/create":                {"CreatePartition", "Collection", "CreatePartition"},
		"/v2/vectordb/aliases/create":                   {"CreateAlias", "Global", "CreateAlias"},
		"/v2/vectordb/databases/list":                   {"ListDatabases", "", ""},
		"/v2/vectordb/users/create":                     {"CreateCredential", "Global", "CreateOwnership"},
		"/v2/vectordb/users/update_password":            {"UpdateCredential", "User", "UpdateUser"},
		"/v2/vectordb/users/describe":                   {"SelectUser", "User", "SelectUser"},
		"/v2/vectordb/roles/grant_privilege_v2":         {"OperatePrivilegeV2", "Global", "ManageOwnership"},
		"/v2/vectordb/privilege_groups/list":            {"ListPrivilegeGroups", "Global", "ListPrivilegeGroups"},
		"/v2/vectordb/resource_groups/transfer_replica": {"TransferReplica", "Global", "TransferReplica"},
	} {
		t.Run(path, func(t *testing.T) {
			m, ok := LookupREST(path)
			if !ok {
				t.Fatal("not found")
			}
			p, _ := m.Privilege()
			if got := [3]string{m.Name, p.ObjectType, p.Name}; got != [3]string{want.api, want.objType, want.priv} {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	for _, path := range []string{"/v2/vectordb/entities", "/v1/vector/search", "/healthz", ServicePrefix + "Search"} {
		if _, ok := LookupREST(path); ok {
			t.Errorf("%s resolved", path)
		}
	}
}

func TestDecodeRESTPrefix(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		want             Info
	}{{
		name: "search", path: "entities/search",
		body: `{"dbName":"db1","collectionName":"docs","partitionNames":["p1"],"filter":"id > 3","limit":10,` +
			`"outputFields":["id"],"data":[[0.1,0.2],[0.3,0.4]],"consistencyLevel":"Bounded","searchParams":{"metricType":"L2"}}`,
		want: Info{API: "Search", DB: "db1", Collection: "docs", Partitions: []string{"p1"}, ObjectName: "docs",
			NQ: i64(2), TopK: i64(10), OutputFields: []string{"id"}, HasOutputFields: true, Filter: str("id > 3"), ConsistencyLevel: "Bounded"},
	}, {
		name: "keys match case-insensitively like Milvus", path: "entities/query",
		body: `{"collectionName":"public","CollectionName":"secret","LIMIT":5}`,
		want: Info{API: "Query", Collection: "secret", ObjectName: "secret", TopK: i64(5)},
	}, {
		name: "insert rows", path: "entities/insert",
		body: `{"collectionName":"docs","partitionName":"p","data":[{"id":1,"vec":[1,2]},{"id":2,"s":"a,]"},{"id":3}]}`,
		want: Info{API: "Insert", Collection: "docs", Partitions: []string{"p"}, ObjectName: "docs", NumRows: i64(3)},
	}, {
		name: "insert no rows", path: "entities/upsert", body: `{"collectionName":"docs","data":[]}`,
		want: Info{API: "Upsert", Collection: "docs", ObjectName: "docs", NumRows: i64(0)},
	}, {
		name: "hybrid", path: "entities/hybrid_search",
		body: `{"collectionName":"docs","search":[{"data":[[1],[2],[3]],"limit":2},{"data":[[1],[2],[3]]}],"limit":4}`,
		want: Info{API: "HybridSearch", Collection: "docs", ObjectName: "docs", NQ: i64(3), TopK: i64(4)},
	}, {
		name: "wrong types are left out", path: "entities/search",
		body: `{"collectionName":7,"limit":"ten","data":{"a":1},"filter":null,"outputFields":"id"}`,
		want: Info{API: "Search"},
	}, {
		name: "user object", path: "users/update_password", body: `{"userName":"bob","password":"x","newPassword":"y"}`,
		want: Info{API: "UpdateCredential", ObjectName: "bob"},
	}, {
		name: "describe all users", path: "users/describe", body: `{}`,
		want: Info{API: "SelectUser", ObjectName: "*"},
	}, {
		name: "flush", path: "collections/flush", body: `{"collectionName":"docs"}`,
		want: Info{API: "Flush", Collection: "docs", ObjectName: "docs", ObjectNames: []string{"docs"}},
	}, {
		name: "global", path: "collections/create", body: `{"collectionName":"new","dimension":8}`,
		want: Info{API: "CreateCollection", Collection: "new", ObjectName: "*"},
	}, {
		name: "no option", path: "collections/has", body: `{"collectionName":"docs"}`,
		want: Info{API: "HasCollection", Collection: "docs"},
	}, {
		name: "empty body", path: "collections/describe", body: ` `,
		want: Info{API: "DescribeCollection", ObjectName: "*"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := LookupREST(RESTPrefix + tc.path)
			if !ok {
				t.Fatal("path not found")
			}
			got, doc, err := DecodeRESTPrefix(m, []byte(tc.body), false)
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, tc.want, got, nil)
			if len(tc.body) > 2 && doc == nil {
				t.Error("no document")
			}
		})
	}
}

func TestDecodeRESTPrefixTruncated(t *testing.T) {
	m, _ := LookupREST(RESTPrefix + "entities/search")
	body := []byte(`{"collectionName":"docs","data":[[0.1,0.2]],"limit":3}`)
	for cut := 1; cut < len(body); cut++ {
		got, doc, err := DecodeRESTPrefix(m, body[:cut], true)
		want := "" // the name counts once its value is whole
		if cut >= len(`{"collectionName":"docs"`) {
			want = "docs"
		}
		if err != nil || doc != nil || !got.Truncated || got.Collection != want || got.API != "Search" || got.NQ != nil {
			t.Fatalf("cut %d: %+v %v %v", cut, got, doc, err)
		}
		if _, _, err := DecodeRESTPrefix(m, body[:cut], false); !errors.Is(err, ErrBadJSON) {
			t.Fatalf("cut %d, complete: err = %v", cut, err)
		}
	}
	got, doc, err := DecodeRESTPrefix(m, body, true)
	if err != nil || doc == nil || got.Truncated || got.Collection != "docs" {
		t.Errorf("whole body marked partial: %+v %v", got, err)
	}
	if _, _, err := DecodeRESTPrefix(m, []byte(`{} {}`), false); !errors.Is(err, ErrBadJSON) {
		t.Errorf("trailing value: err = %v", err)
	}
	if n, ok := doc["limit"].(json.Number); !ok || n != "3" {
		t.Errorf("numbers are not json.Number: %T", doc["limit"])
	}
}

func TestCountArray(t *testing.T) {
	for in, want := range map[string]int{
		`[]`: 0, ` [ ] `: 0, `[1]`: 1, `[1,2,3]`: 3, `[[1,2],[3]]`: 2, `[{"a":[1,2]},"x,y",  "\"],"]`: 3,
		`{}`: -1, `"a"`: -1, `null`: -1, `7`: -1,
	} {
		if got := countArray([]byte(in)); got != want {
			t.Errorf("countArray(%s) = %d, want %d", in, got, want)
		}
	}
}
