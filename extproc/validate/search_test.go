package validate

import (
	"math"
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

var v4 = []float32{0.1, 0.2, 0.3, 0.4}

func searchReq(t testing.TB, ph []byte, params ...string) *milvuspb.SearchRequest {
	return &milvuspb.SearchRequest{
		CollectionName: "docs",
		SearchInput:    &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: ph},
		SearchParams:   kv(params...),
	}
}

func TestSearch(t *testing.T) {
	garbage := []byte{0x0a, 0xff}
	garbageErr := proto.Unmarshal(garbage, &commonpb.PlaceholderGroup{}).Error()
	nan := []float32{0.1, float32(math.NaN()), 0.3, 0.4}
	inf := []float32{0.1, float32(math.Inf(1)), 0.3, 0.4}
	for _, tc := range []struct {
		name   string
		schema func(testing.TB) *Schema
		req    func(t testing.TB) *milvuspb.SearchRequest
		want   *want
	}{
		{"valid", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4, v4), "topk", "10", "offset", "5", "round_decimal", "3", "anns_field", "vec")
		}, ok()},
		{"anns field inferred from the only vector field", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10")
		}, ok()},
		{"topk missing", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4))
		}, plain("topk is required")},
		{"limit is not topk", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "limit", "10")
		}, plain("topk is required")},
		{"topk not a number", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "ten")
		}, plain("topk [ten] is invalid")},
		{"topk zero", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "0")
		}, plain("topk [0] is invalid, it should be in range [1, 16384], but got 0")},
		{"topk above 16384", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "16385")
		}, plain("topk [16385] is invalid, it should be in range [1, 16384], but got 16385")},
		{"iterator clamps topk", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "99999", "iterator", "true")
		}, ok()},
		{"offset negative", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "offset", "-1")
		}, plain("offset [-1] is invalid, it should be in range [1, 16384], but got -1")},
		{"offset not a number", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "offset", "x")
		}, plain("offset [x] is invalid")},
		{"offset plus topk above 16384", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "16000", "offset", "1000")
		}, plain("offset+topk [17000] is invalid, it should be in range [1, 16384], but got 17000")},
		{"round_decimal above 6", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "round_decimal", "7")
		}, plain("round_decimal [7] is invalid, should be -1 or an integer in range [0, 6]")},
		{"round_decimal -1", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "round_decimal", "-1")
		}, ok()},
		{"empty placeholder group", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, nil, "topk", "10")
		}, plain("nq [0] is invalid, nq (number of search vector per search request) should be in range [1, 16384], but got 0")},
		{"nq above 16384", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.Nq = 16385
			return r
		}, plain("nq [16385] is invalid, nq (number of search vector per search request) should be in range [1, 16384], but got 16385")},
		{"nq differs from the vector count", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.Nq = 2
			return r
		}, &want{CodeParameterInvalid, "nq does not match the number of vectors in the placeholder group: invalid parameter[expected=2][actual=1]"}},
		{"malformed placeholder group", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, garbage, "topk", "10")
		}, plain(garbageErr)},
		{"anns field unknown", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "nope")
		}, p1100("failed to create query plan: failed to get field schema by name: fieldName(nope) not found")},
		{"anns field not a vector", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "title")
		}, p1100("failed to create query plan: field (title) to search is not of vector data type")},
		{"anns field required with several vector fields", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10")
		}, plain("multiple anns_fields exist, please specify a anns_field in search_params")},
		{"placeholder type differs from the field", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_BinaryVector, []byte{1, 2}), "topk", "10")
		}, plain("vector type must be the same, field vec - type VECTOR_FLOAT, search info type VECTOR_BINARY")},
		{"vector shorter than dim", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4[:3]), "topk", "10")
		}, plain("vector dimension mismatch, expected vector size(byte) 16, actual 12.")},
		{"second vector shorter than the first", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4, v4[:3]), "topk", "10")
		}, plain("vector dimension mismatch, expected vector size(byte) 16, actual 12.")},
		{"NaN in query vector", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, nan), "topk", "10")
		}, plain("value 'NaN' is not a number or infinity")},
		{"Inf in query vector", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, inf), "topk", "10")
		}, plain("value '+Inf' is not a number or infinity")},
		{"binary vector bytes", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_BinaryVector, []byte{1, 2}), "topk", "10", "anns_field", "bin")
		}, ok()},
		{"binary vector of the wrong size", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_BinaryVector, []byte{1, 2, 3}), "topk", "10", "anns_field", "bin")
		}, plain("vector dimension mismatch, expected vector size(byte) 2, actual 3.")},
		{"float16 vector bytes", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_Float16Vector, make([]byte, 8)), "topk", "10", "anns_field", "half")
		}, ok()},
		{"float32 query on a float16 field is converted", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "half")
		}, ok()},
		{"float16 vector of the wrong size", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_Float16Vector, make([]byte, 6)), "topk", "10", "anns_field", "half")
		}, plain("vector dimension mismatch, expected vector size(byte) 8, actual 6.")},
		{"sparse query", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(1, 0.5, 9, 0.25)), "topk", "10", "anns_field", "sparse")
		}, ok()},
		{"sparse query with unsorted indices", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(9, 0.5, 1, 0.25)), "topk", "10", "anns_field", "sparse")
		}, plain("unsorted or same indices in sparse float vector")},
		{"sparse query with index 2^32-1", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(math.MaxUint32, 0.5)), "topk", "10", "anns_field", "sparse")
		}, plain("invalid index in sparse float vector: must be less than 2^32-1")},
		{"sparse query with a negative value", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(1, -0.5)), "topk", "10", "anns_field", "sparse")
		}, plain("negative value in sparse float vector")},
		{"sparse query of odd length", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, []byte{1, 2, 3}), "topk", "10", "anns_field", "sparse")
		}, plain("invalid data length in sparse float vector: 3")},
		{"BM25 text query on the function output", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_VarChar, []byte("hello world")), "topk", "10", "anns_field", "sparse")
		}, ok()},
		{"output fields exist", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.OutputFields = []string{"title", " vec ", "*"}
			return r
		}, ok()},
		{"unknown output field goes to the dynamic field", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.OutputFields = []string{"color"}
			return r
		}, ok()},
		{"unknown output field without dynamic field", multi, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "dense")
			r.OutputFields = []string{"color"}
			return r
		}, plain("field color not exist")},
		{"BM25 output field cannot be returned", multi, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "dense")
			r.OutputFields = []string{"sparse"}
			return r
		}, plain("not allowed to retrieve raw data of field sparse")},
		{"partition exists", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.PartitionNames = []string{"p1"}
			return r
		}, ok()},
		{"partition unknown", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.PartitionNames = []string{"p1", "nope"}
			return r
		}, plain("partition name nope not found")},
		{"partition name empty", docs, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10")
			r.PartitionNames = []string{" "}
			return r
		}, plain("Invalid partition name: . Partition name should not be empty.")},
		{"partition names with a partition key", multi, func(t testing.TB) *milvuspb.SearchRequest {
			r := searchReq(t, floatGroup(t, v4), "topk", "10", "anns_field", "dense")
			r.PartitionNames = []string{"_default_0"}
			return r
		}, plain("not support manually specifying the partition names if partition key mode is used")},
		{"group by unknown field", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "group_by_field", "nope")
		}, &want{CodeFieldNotFound, "groupBy field not found in schema: field not found[field=nope]"}},
		{"group size above 10", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "group_by_field", "title", "group_size", "11")
		}, p1100("input group size:11 exceeds configured max group size:10")},
		{"group by with an iterator", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, floatGroup(t, v4), "topk", "10", "group_by_field", "title", "iterator", "true")
		}, &want{CodeParameterInvalid, "Not allowed to do groupBy when doing iteration: invalid parameter[expected=][actual=]"}},
		{"group by on a binary vector", multi, func(t testing.TB) *milvuspb.SearchRequest {
			return searchReq(t, group(t, commonpb.PlaceholderType_BinaryVector, []byte{1, 2}), "topk", "10", "anns_field", "bin", "group_by_field", "category")
		}, plain("not support search_group_by operation based on binary vector column")},
		{"search by primary keys", docs, func(t testing.TB) *milvuspb.SearchRequest {
			return &milvuspb.SearchRequest{CollectionName: "docs", SearchParams: kv("topk", "3"),
				SearchInput: &milvuspb.SearchRequest_Ids{Ids: &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: []int64{1, 2}}}}}}
		}, ok()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Search(tc.req(t), tc.schema(t)), tc.want)
		})
	}
}

func TestSearchLargeTopK(t *testing.T) {
	s := mustSchema(t, docsSchema(), nil, kv("query_mode", "large_topk")...)
	check(t, Search(searchReq(t, floatGroup(t, v4), "topk", "20000"), s), ok())
	check(t, Search(searchReq(t, floatGroup(t, v4), "topk", "1000001"), s),
		plain("topk [1000001] is invalid, it should be in range [1, 1000000], but got 1000001"))
}

func hybridReq(t testing.TB, rank []*commonpb.KeyValuePair, subs ...*milvuspb.SearchRequest) *milvuspb.HybridSearchRequest {
	return &milvuspb.HybridSearchRequest{CollectionName: "multi", Requests: subs, RankParams: rank}
}

func TestHybridSearch(t *testing.T) {
	dense := func(t testing.TB, vecs ...[]float32) *milvuspb.SearchRequest {
		return searchReq(t, floatGroup(t, vecs...), "anns_field", "dense", "topk", "20")
	}
	sparse := func(t testing.TB) *milvuspb.SearchRequest {
		return searchReq(t, group(t, commonpb.PlaceholderType_SparseFloatVector, sparseBytes(3, 1)), "anns_field", "sparse")
	}
	rank := kv("strategy", "rrf", "limit", "10")
	for _, tc := range []struct {
		name string
		req  func(t testing.TB) *milvuspb.HybridSearchRequest
		want *want
	}{
		{"valid", func(t testing.TB) *milvuspb.HybridSearchRequest { return hybridReq(t, rank, dense(t, v4), sparse(t)) }, ok()},
		{"no sub-requests", func(t testing.TB) *milvuspb.HybridSearchRequest { return hybridReq(t, rank) },
			plain("nq [0] is invalid, nq (number of search vector per search request) should be in range [1, 16384], but got 0")},
		{"more than 1024 sub-requests", func(t testing.TB) *milvuspb.HybridSearchRequest {
			subs := make([]*milvuspb.SearchRequest, 1025)
			for i := range subs {
				subs[i] = dense(t, v4)
			}
			return hybridReq(t, rank, subs...)
		}, plain("maximum of ann search requests is 1024")},
		{"sub-requests with different nq", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, rank, dense(t, v4), dense(t, v4, v4))
		}, &want{CodeParameterInvalid, "sub search request nq should be the same: invalid parameter[expected=1][actual=2]"}},
		{"rank limit missing", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, kv("strategy", "rrf"), dense(t, v4))
		}, plain("limit not found in rank_params")},
		{"rank limit not a number", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, kv("limit", "x"), dense(t, v4))
		}, plain("limit [x] is invalid")},
		{"rank limit zero", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, kv("limit", "0"), dense(t, v4))
		}, plain("invalid max query result window, limit [0] is invalid, should be greater than 0")},
		{"rank limit above 16384", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, kv("limit", "16385"), dense(t, v4))
		}, plain("invalid max query result window, (offset+limit) should be in range [1, 16384], but got 16385")},
		{"rank offset negative", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, kv("limit", "10", "offset", "-1"), dense(t, v4))
		}, plain("invalid max query result window, offset [-1] is invalid, should be gte than 0")},
		{"sub topk invalid", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, rank, searchReq(t, floatGroup(t, v4), "anns_field", "dense", "topk", "0"))
		}, plain("topk [0] is invalid, it should be in range [1, 16384], but got 0")},
		{"sub anns field missing", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, rank, searchReq(t, floatGroup(t, v4)))
		}, plain("multiple anns_fields exist, please specify a anns_field in search_params")},
		{"sub vector of the wrong size", func(t testing.TB) *milvuspb.HybridSearchRequest {
			return hybridReq(t, rank, dense(t, v4), searchReq(t, floatGroup(t, v4[:2]), "anns_field", "dense"))
		}, plain("vector dimension mismatch, expected vector size(byte) 16, actual 8.")},
		{"partition names with a partition key", func(t testing.TB) *milvuspb.HybridSearchRequest {
			r := hybridReq(t, rank, dense(t, v4))
			r.PartitionNames = []string{"_default_0"}
			return r
		}, plain("not support manually specifying the partition names if partition key mode is used")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, HybridSearch(tc.req(t), multi(t)), tc.want)
		})
	}
}

func TestSearchSubRequestsRunAsHybrid(t *testing.T) {
	req := &milvuspb.SearchRequest{
		CollectionName: "multi",
		SearchParams:   kv("limit", "5"),
		SubReqs: []*milvuspb.SubSearchRequest{
			{PlaceholderGroup: floatGroup(t, v4), SearchParams: kv("anns_field", "dense")},
			{PlaceholderGroup: floatGroup(t, v4, v4), SearchParams: kv("anns_field", "dense")},
		},
	}
	check(t, Search(req, multi(t)), &want{CodeParameterInvalid, "sub search request nq should be the same: invalid parameter[expected=1][actual=2]"})
}

func TestSearchNqLimitUsesPlaceholderCount(t *testing.T) {
	vecs := make([][]float32, nqLimit+1)
	for i := range vecs {
		vecs[i] = v4
	}
	got := Search(searchReq(t, floatGroup(t, vecs...), "topk", "1"), docs(t))
	check(t, got, plain("nq [16385] is invalid, nq (number of search vector per search request) should be in range [1, 16384], but got "+strconv.Itoa(nqLimit+1)))
}
