package validate

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// wellShaped fails the fuzz run when an Error is not Milvus-shaped.
func wellShaped(t *testing.T, err *Error) {
	t.Helper()
	if err == nil {
		return
	}
	if err.Code == 0 || err.Reason == "" || err.Legacy != legacyCode(err.Code) {
		t.Fatalf("malformed error %+v", err)
	}
}

func FuzzSearch(f *testing.F) {
	s, m := docs(f), multi(f)
	f.Add(mustMarshal(f, searchReq(f, floatGroup(f, v4, v4), "topk", "10", "offset", "2", "anns_field", "vec")))
	f.Add(mustMarshal(f, searchReq(f, group(f, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(1, 0.5, 7, 1)), "topk", "3", "anns_field", "sparse")))
	f.Add(mustMarshal(f, searchReq(f, group(f, commonpb.PlaceholderType_BinaryVector, []byte{1, 2}), "topk", "3", "anns_field", "bin", "group_by_field", "category")))
	f.Add(mustMarshal(f, hybridReq(f, kv("limit", "5"), searchReq(f, floatGroup(f, v4), "anns_field", "dense"))))
	f.Add(floatGroup(f, v4))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The bytes as a placeholder group: the wire reader must agree
		// with proto.Unmarshal on what is well formed.
		if wellFormedGroup(data) != (proto.Unmarshal(data, &commonpb.PlaceholderGroup{}) == nil) {
			t.Fatalf("wire reader disagrees with proto.Unmarshal on %x", data)
		}
		wellShaped(t, Search(searchReq(t, data, "topk", "10"), s))
		req := &milvuspb.SearchRequest{}
		if proto.Unmarshal(data, req) == nil {
			wellShaped(t, Search(req, s))
			wellShaped(t, Search(req, m))
		}
		hreq := &milvuspb.HybridSearchRequest{}
		if proto.Unmarshal(data, hreq) == nil {
			wellShaped(t, HybridSearch(hreq, s))
			wellShaped(t, HybridSearch(hreq, m))
		}
	})
}

func FuzzInsert(f *testing.F) {
	s, m := docs(f), multi(f)
	f.Add(mustMarshal(f, docsInsert()))
	f.Add(mustMarshal(f, multiInsert()))
	bad := docsInsert()
	set(withValid(floatCol("price", 1), true, false))(bad)
	set(dynCol(`{"a":[1,{"b":"\u0074"}]}`, `[]`))(bad)
	f.Add(mustMarshal(f, bad))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &milvuspb.InsertRequest{}
		if proto.Unmarshal(data, req) == nil {
			wellShaped(t, Insert(req, s))
			wellShaped(t, Insert(req, m))
		}
		up := &milvuspb.UpsertRequest{}
		if proto.Unmarshal(data, up) == nil {
			wellShaped(t, Upsert(up, s))
			up.PartialUpdate = !up.PartialUpdate
			wellShaped(t, Upsert(up, m))
		}
	})
}

func FuzzCreateCollection(f *testing.F) {
	f.Add(mustMarshal(f, &milvuspb.CreateCollectionRequest{CollectionName: "docs", Schema: mustMarshal(f, createSchema()), ShardsNum: 2}))
	f.Add(mustMarshal(f, &milvuspb.CreateCollectionRequest{CollectionName: "multi", Schema: mustMarshal(f, multiSchema()), NumPartitions: 16}))
	f.Add(mustMarshal(f, createSchema()))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &milvuspb.CreateCollectionRequest{}
		if proto.Unmarshal(data, req) == nil {
			wellShaped(t, CreateCollection(req))
		}
		// The bytes as the schema itself: whatever CreateCollection
		// accepts, the schema cache must be able to index.
		if CreateCollection(&milvuspb.CreateCollectionRequest{Schema: data}) == nil {
			cs := &schemapb.CollectionSchema{}
			if err := proto.Unmarshal(data, cs); err != nil {
				t.Fatal(err)
			}
			if _, err := NewSchema(cs, nil); err != nil {
				t.Fatalf("accepted schema not indexable: %v", err)
			}
		}
	})
}
