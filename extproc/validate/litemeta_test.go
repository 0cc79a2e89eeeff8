package validate

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// TestDynamicFieldWithoutMetaField: milvus-lite's DescribeCollection reports
// enable_dynamic_field without a $meta field, while pymilvus's quick-setup
// collections insert a $meta JSON column: the insert must pass, and unknown
// output fields are dynamic keys.
func TestDynamicFieldWithoutMetaField(t *testing.T) {
	cs := &schemapb.CollectionSchema{Name: "docs", EnableDynamicField: true, Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vector", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "2"}}},
	}}
	s, err := NewSchema(cs, []string{"_default"})
	if err != nil {
		t.Fatal(err)
	}
	req := &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 2, FieldsData: []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{1, 2}}}}}},
		{FieldName: "vector", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: 2, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{1, 2, 3, 4}}}}}},
		{FieldName: "$meta", Type: schemapb.DataType_JSON, IsDynamic: true, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{[]byte(`{"color":"red"}`), []byte(`{}`)}}}}}},
	}}
	if e := Insert(req, s); e != nil {
		t.Fatalf("insert with a $meta column: %v", e)
	}
	req.FieldsData = req.FieldsData[:2]
	if e := Insert(req, s); e != nil {
		t.Fatalf("insert without dynamic keys: %v", e)
	}
	if e := Query(&milvuspb.QueryRequest{CollectionName: "docs", Expr: "id > 0", OutputFields: []string{"color"}}, s); e != nil {
		t.Fatalf("query of a dynamic key: %v", e)
	}
}
