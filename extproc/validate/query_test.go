package validate

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

func TestQuery(t *testing.T) {
	q := func(expr string, params ...string) *milvuspb.QueryRequest {
		return &milvuspb.QueryRequest{CollectionName: "docs", Expr: expr, QueryParams: kv(params...)}
	}
	with := func(r *milvuspb.QueryRequest, f func(*milvuspb.QueryRequest)) *milvuspb.QueryRequest {
		f(r)
		return r
	}
	for _, tc := range []struct {
		name   string
		schema func(testing.TB) *Schema
		req    *milvuspb.QueryRequest
		want   *want
	}{
		{"filter without limit", docs, q("id > 5"), ok()},
		{"filter syntax is left to the backend", docs, q("id >>> ((("), ok()},
		{"empty filter with limit", docs, q("", "limit", "10", "offset", "5"), ok()},
		{"empty filter without limit", docs, q(""), p1100("empty expression should be used with limit")},
		{"count(*) without filter or limit", docs, with(q(""), func(r *milvuspb.QueryRequest) { r.OutputFields = []string{"count(*)"} }), ok()},
		{"count(*) with limit", docs, with(q("id > 1", "limit", "10"), func(r *milvuspb.QueryRequest) { r.OutputFields = []string{"count(*)"} }),
			p1100("count entities with pagination is not allowed")},
		{"invalid collection name", docs, with(q("id > 1"), func(r *milvuspb.QueryRequest) { r.CollectionName = "1docs" }),
			p1100("Invalid collection name: 1docs.  the first character of a collection name must be an underscore or letter")},
		{"limit not a number", docs, q("", "limit", "ten"), plain("limit [ten] is invalid")},
		{"limit zero", docs, q("", "limit", "0"), plain("invalid max query result window, limit [0] is invalid, should be greater than 0")},
		{"offset negative", docs, q("", "limit", "10", "offset", "-1"), plain("invalid max query result window, offset [-1] is invalid, should be gte than 0")},
		{"offset not a number", docs, q("", "limit", "10", "offset", "x"), plain("offset [x] is invalid")},
		{"offset plus limit above 16384", docs, q("", "limit", "16000", "offset", "1000"),
			plain("invalid max query result window, (offset+limit) should be in range [1, 16384], but got 17000")},
		{"offset ignored without limit", docs, q("id > 1", "offset", "-5"), ok()},
		{"iterator flag not a bool", docs, q("id > 1", "iterator", "maybe"),
			&want{CodeParameterInvalid, "value for iterator field is invalid: invalid parameter[expected=true or false][actual=maybe]"}},
		{"reduce_stop_for_best not a bool", docs, q("id > 1", "reduce_stop_for_best", "x"),
			&want{CodeParameterInvalid, "value for reduce_stop_for_best is invalid: invalid parameter[expected=true or false][actual=x]"}},
		{"output field unknown without dynamic field", multi, with(q("pk > 1"), func(r *milvuspb.QueryRequest) { r.OutputFields = []string{"nope"} }),
			plain("field nope not exist")},
		{"output field unknown with dynamic field", docs, with(q("id > 1"), func(r *milvuspb.QueryRequest) { r.OutputFields = []string{"nope"} }), ok()},
		{"partition unknown", docs, with(q("id > 1"), func(r *milvuspb.QueryRequest) { r.PartitionNames = []string{"nope"} }),
			plain("partition name nope not found")},
		{"partition name too long", docs, with(q("id > 1"), func(r *milvuspb.QueryRequest) { r.PartitionNames = []string{repeat("p", 256)} }),
			plain("Invalid partition name: " + repeat("p", 256) + ". The length of a partition name must be less than 255 characters.")},
		{"partition names with a partition key", multi, with(q("pk > 1"), func(r *milvuspb.QueryRequest) { r.PartitionNames = []string{"_default_0"} }),
			p1100("not support manually specifying the partition names if partition key mode is used")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Query(tc.req, tc.schema(t)), tc.want)
		})
	}
}

func TestDelete(t *testing.T) {
	d := func(expr, partition string) *milvuspb.DeleteRequest {
		return &milvuspb.DeleteRequest{CollectionName: "docs", Expr: expr, PartitionName: partition}
	}
	for _, tc := range []struct {
		name   string
		schema func(testing.TB) *Schema
		req    *milvuspb.DeleteRequest
		want   *want
	}{
		{"by primary key", docs, d("id in [1, 2]", ""), ok()},
		{"in an existing partition", docs, d("id in [1]", "p1"), ok()},
		{"empty expression", docs, d("", ""), p1100("delete plan can't be empty or always true : ")},
		{"invalid collection name", docs, &milvuspb.DeleteRequest{CollectionName: "", Expr: "id > 0"}, p1100("collection name should not be empty")},
		{"partition unknown", docs, d("id in [1]", "nope"), &want{CodePartitionNotFound, "Failed to get partition id: partition not found[partition=nope]"}},
		{"partition name invalid", docs, d("id in [1]", "p$1"), plain("Invalid partition name: p$1. Partition name can only contain numbers, letters and underscores.")},
		{"partition name with a partition key", multi, d("pk in [1]", "_default_0"),
			plain("not support manually specifying the partition names if partition key mode is used")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Delete(tc.req, tc.schema(t)), tc.want)
		})
	}
}

func TestDeleteStatusKeepsTheWrappedDetail(t *testing.T) {
	err := Delete(&milvuspb.DeleteRequest{CollectionName: "docs", Expr: "id > 1", PartitionName: "p$1"}, docs(t))
	st := err.Status()
	if st.GetReason() != "Invalid partition name: p$1. Partition name can only contain numbers, letters and underscores." ||
		st.GetDetail() != "Invalid partition name: Invalid partition name: p$1. Partition name can only contain numbers, letters and underscores." {
		t.Fatalf("status %v", st)
	}
	if st.GetErrorCode() != commonpb.ErrorCode_UnexpectedError || st.GetCode() != CodeUnexpected {
		t.Fatalf("codes %v", st)
	}
}
