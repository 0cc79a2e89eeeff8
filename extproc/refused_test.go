package extproc

import (
	"reflect"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// TestRefusalsSayValidation: every refusal of ext_proc tells Envoy, in the
// call's facts beside ext_authz's, that the edge refused it for validation;
// a call that goes on carries no such word.
func TestRefusalsSayValidation(t *testing.T) {
	const search = "/milvus.proto.milvus.MilvusService/Search"
	grpc := headers(":path", search, "content-type", "application/grpc")
	for _, tc := range []struct {
		name    string
		hs      *extprocv3.HttpHeaders
		body    []byte
		refused bool
	}{
		{"typed refusal (bad name)", headers(":path", "/milvus.proto.milvus.MilvusService/Query", "content-type", "application/grpc"), grpcBody(t, &milvuspb.QueryRequest{CollectionName: "no such name!"}), true},
		{"undecodable frame", grpc, []byte{0, 0, 0, 0, 9, 1}, true},
		{"rest refusal", headers(":path", "/v2/vectordb/entities/query", "content-type", "application/json"),
			[]byte(`{"collectionName":"bad name!"}`), true},
		{"rest undecodable", headers(":path", "/v2/vectordb/entities/query", "content-type", "application/json"), []byte(`{`), true},
		{"goes on", grpc, grpcBody(t, &milvuspb.SearchRequest{CollectionName: "docs"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := run(t, tc.hs, tc.body)
			got := resp.GetDynamicMetadata().GetFields()[edgemeta.AuthzNamespace].GetStructValue().GetFields()[edgemeta.Refused].GetStringValue()
			want := ""
			if tc.refused {
				want = edgemeta.RefusedValidation
			}
			if got != want || (!tc.refused && resp.GetDynamicMetadata() != nil) {
				t.Fatalf("dynamic metadata %v, want refused %q", resp.GetDynamicMetadata(), want)
			}
		})
	}
}

// TestInsertRowsInFacts: ext_proc, which decodes inserts whole, tells Envoy
// their num_rows (past ext_authz's prefix in a large insert), refused or not.
func TestInsertRowsInFacts(t *testing.T) {
	insert := headers(":path", "/milvus.proto.milvus.MilvusService/Insert", "content-type", "application/grpc")
	for _, tc := range []struct {
		name    string
		body    []byte
		refused bool
	}{
		{"goes on", grpcBody(t, &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 300}), false},
		{"refused", grpcBody(t, &milvuspb.InsertRequest{CollectionName: "bad name!", NumRows: 300}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := run(t, insert, tc.body).GetDynamicMetadata().GetFields()[edgemeta.AuthzNamespace].GetStructValue().AsMap()
			want := map[string]any{edgemeta.Rows: 300.0}
			if tc.refused {
				want[edgemeta.Refused] = edgemeta.RefusedValidation
			}
			if !reflect.DeepEqual(md, want) {
				t.Fatalf("facts %v, want %v", md, want)
			}
		})
	}
}
