package validate

import (
	"math"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

var vec8 = []float32{1, 2, 3, 4, 5, 6, 7, 8} // two 4-dim rows

// docsInsert is a valid two-row insert into docsSchema.
func docsInsert() *milvuspb.InsertRequest {
	return &milvuspb.InsertRequest{
		CollectionName: "docs",
		NumRows:        2,
		FieldsData: []*schemapb.FieldData{
			longCol("id", 1, 2),
			strCol("title", "a", "b"),
			vecCol("vec", 4, vec8...),
			strArrayCol("tags", []string{"x"}, []string{"y", "z"}),
			jsonCol("meta", `{"a":1}`, `{}`),
			intCol("small", schemapb.DataType_Int8, 1, -1),
			dynCol(`{"color":"red","n":{"title":1}}`, `{}`),
		},
	}
}

// multiInsert is a valid one-row insert into multiSchema (auto-ID key,
// BM25 output generated).
func multiInsert() *milvuspb.InsertRequest {
	return &milvuspb.InsertRequest{
		CollectionName: "multi",
		NumRows:        1,
		FieldsData: []*schemapb.FieldData{
			strCol("text", "hello"),
			vecCol("dense", 4, v4...),
			binCol("bin", 16, []byte{1, 2}),
			halfCol("half", 4, make([]byte, 8)),
			longCol("category", 7),
		},
	}
}

// set replaces the column called c.FieldName, or appends c.
func set(c *schemapb.FieldData) func(*milvuspb.InsertRequest) {
	return func(r *milvuspb.InsertRequest) {
		for i, old := range r.FieldsData {
			if old.GetFieldName() == c.GetFieldName() && old.GetIsDynamic() == c.GetIsDynamic() {
				r.FieldsData[i] = c
				return
			}
		}
		r.FieldsData = append(r.FieldsData, c)
	}
}

func drop(name string) func(*milvuspb.InsertRequest) {
	return func(r *milvuspb.InsertRequest) {
		for i, c := range r.FieldsData {
			if c.GetFieldName() == name {
				r.FieldsData = append(r.FieldsData[:i], r.FieldsData[i+1:]...)
				return
			}
		}
	}
}

func TestInsert(t *testing.T) {
	big := `{"k":"` + repeat("x", jsonMaxLength) + `"}`
	for _, tc := range []struct {
		name   string
		schema func(testing.TB) *Schema
		base   func() *milvuspb.InsertRequest
		edit   []func(*milvuspb.InsertRequest)
		want   *want
	}{
		{"valid", docs, docsInsert, nil, ok()},
		{"valid with nullable and default columns", docs, docsInsert, []func(*milvuspb.InsertRequest){
			set(withValid(floatCol("price", 1.5), true, false)),
			set(withValid(doubleCol("rating", 4), false, true)),
		}, ok()},
		{"nullable column without valid_data", docs, docsInsert, []func(*milvuspb.InsertRequest){set(floatCol("price", 1, 2))}, ok()},
		{"dynamic column may be omitted", docs, docsInsert, []func(*milvuspb.InsertRequest){drop("$meta")}, ok()},
		{"into a partition", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.PartitionName = "p1" }}, ok()},
		{"invalid collection name", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.CollectionName = "a b" }},
			p1100("Invalid collection name: a b.  collection name can only contain numbers, letters and underscores")},
		{"num_rows zero", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.NumRows = 0 }},
			&want{CodeParameterInvalid, "num_rows should be greater than 0: invalid parameter[expected=invalid num_rows][actual=0]"}},
		{"unknown field", docs, docsInsert, []func(*milvuspb.InsertRequest){set(longCol("color", 1, 2))},
			p1100("fieldName color not exist in collection schema, fieldType Int64, fieldId 0")},
		{"duplicated column", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) {
			r.FieldsData = append(r.FieldsData, strCol("title", "c", "d"))
		}}, p1100("duplicated field title found")},
		{"required field missing", docs, docsInsert, []func(*milvuspb.InsertRequest){drop("vec")},
			p1100("fieldSchema(vec) has no corresponding fieldData pass in")},
		{"primary key missing", docs, docsInsert, []func(*milvuspb.InsertRequest){drop("id")},
			p1100("fieldSchema(id) has no corresponding fieldData pass in")},
		{"primary key as vectors", docs, docsInsert, []func(*milvuspb.InsertRequest){set(vecCol("id", 4, vec8...))},
			p1100("currently not support vector field as PrimaryField")},
		{"primary key as floats", docs, docsInsert, []func(*milvuspb.InsertRequest){set(floatCol("id", 1, 2))},
			p1100("currently only support DataType Int64 or VarChar as PrimaryField")},
		{"primary key as strings on an Int64 key", docs, docsInsert, []func(*milvuspb.InsertRequest){set(strCol("id", "1", "2"))},
			&want{CodeParameterInvalid, "field 'id' is illegal, array type mismatch: invalid parameter[expected=need long int array][actual=got nil]"}},
		{"varchar over max_length", docs, docsInsert, []func(*milvuspb.InsertRequest){set(strCol("title", "a", repeat("b", 17)))},
			p1100("length of varchar field title exceeds max length, row number: 1, length: 17, max length: 16")},
		{"varchar as numbers", docs, docsInsert, []func(*milvuspb.InsertRequest){set(longCol("title", 1, 2))},
			&want{CodeParameterInvalid, "varchar field 'title' is illegal, array type mismatch: invalid parameter[expected=need string array][actual=got nil]"}},
		{"NaN in a float vector", docs, docsInsert, []func(*milvuspb.InsertRequest){set(vecCol("vec", 4, 1, 2, 3, 4, 5, float32(math.NaN()), 7, 8))},
			plain("value 'NaN' is not a number or infinity")},
		{"Inf in a float field", docs, docsInsert, []func(*milvuspb.InsertRequest){set(floatCol("price", 1, float32(math.Inf(-1))))},
			plain("value '-Inf' is not a number or infinity")},
		{"vector column missing its data", docs, docsInsert, []func(*milvuspb.InsertRequest){set(binCol("vec", 4, []byte{1}))},
			&want{CodeParameterInvalid, "float vector field 'vec' is illegal, array type mismatch: invalid parameter[expected=need float vector][actual=got nil]"}},
		{"vector length not a multiple of dim", docs, docsInsert, []func(*milvuspb.InsertRequest){set(vecCol("vec", 4, 1, 2, 3, 4, 5, 6, 7))},
			plain("the length(7) of float data should divide the dim(4)")},
		{"vector dim differs from the schema", docs, docsInsert, []func(*milvuspb.InsertRequest){set(vecCol("vec", 8, vec8...))},
			&want{CodeParameterInvalid, "the dim (8) of field data(vec) is not equal to schema dim (4): invalid parameter[expected=4][actual=8]"}},
		{"vector rows differ from num_rows", docs, docsInsert, []func(*milvuspb.InsertRequest){set(vecCol("vec", 4, append(vec8, v4...)...))},
			&want{CodeParameterInvalid, "the num_rows (3) of field (vec) is not equal to passed num_rows (2): invalid parameter[expected=2][actual=3]"}},
		{"scalar rows differ from num_rows", docs, docsInsert, []func(*milvuspb.InsertRequest){set(strCol("title", "a", "b", "c"))},
			&want{CodeParameterInvalid, "the num_rows (3) of field (title) is not equal to passed num_rows (2): invalid parameter[expected=2][actual=3]"}},
		{"int8 out of range", docs, docsInsert, []func(*milvuspb.InsertRequest){set(intCol("small", schemapb.DataType_Int8, 1, 200))},
			&want{CodeParameterInvalid, "the 1th element (200) out of range: [-128, 127]: invalid parameter[expected=integer doesn't overflow][actual=out of range]"}},
		{"array over max_capacity", docs, docsInsert, []func(*milvuspb.InsertRequest){set(strArrayCol("tags", []string{"a", "b", "c", "d"}, nil))},
			&want{CodeParameterInvalid, "the length (4) of 0th array exceeds max capacity (3): invalid parameter[expected=valid length array][actual=array length exceeds max capacity]"}},
		{"array element over max_length", docs, docsInsert, []func(*milvuspb.InsertRequest){set(strArrayCol("tags", []string{"a", "bbbbbb"}, []string{}))},
			p1100(`length of Array array field "tags" exceeds max length, row number: 0, array index: 1, length: 6, max length: 5`)},
		{"array element of the wrong type", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) {
			c := strArrayCol("tags", []string{"a"}, []string{"b"})
			c.GetScalars().GetArrayData().Data[1] = &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: []int32{1}}}}
			set(c)(r)
		}}, &want{CodeParameterInvalid, "insert data does not match: invalid parameter[expected=string array][actual=*schemapb.ScalarField_IntData array]"}},
		{"JSON over 64 KiB", docs, docsInsert, []func(*milvuspb.InsertRequest){set(jsonCol("meta", big, `{}`))},
			&want{CodeParameterInvalid, "the length (65544) of json field (meta) exceeds max length (65536): invalid parameter[expected=valid length json string][actual=length exceeds max length]"}},
		{"dynamic row over 64 KiB", docs, docsInsert, []func(*milvuspb.InsertRequest){set(dynCol(big, `{}`))},
			&want{CodeParameterInvalid, "the length (65544) of dynamic field exceeds max length (65536): invalid parameter[expected=valid length dynamic field][actual=length exceeds max length]"}},
		{"dynamic row not an object", docs, docsInsert, []func(*milvuspb.InsertRequest){set(dynCol(`[1]`, `{}`))},
			&want{CodeIOFailed, "IO failed: json: cannot unmarshal array into Go value of type map[string]interface {}"}},
		{"dynamic row null", docs, docsInsert, []func(*milvuspb.InsertRequest){set(dynCol(`null`, `{}`))}, ok()},
		{"dynamic row sets $meta", docs, docsInsert, []func(*milvuspb.InsertRequest){set(dynCol(`{"$meta":1}`, `{}`))},
			plain("cannot set json key to: $meta")},
		{"dynamic row shadows a static field", docs, docsInsert, []func(*milvuspb.InsertRequest){set(dynCol(`{}`, `{"x":[1,{"y":2}], "ti\u0074le": 1}`))},
			plain("dynamic field name cannot include the static field name: title")},
		{"nullable valid_data of the wrong length", docs, docsInsert, []func(*milvuspb.InsertRequest){set(withValid(floatCol("price", 1), true))},
			&want{CodeParameterInvalid, "the length of valid_data of field(price) is wrong: invalid parameter[expected=2][actual=1]"}},
		{"nullable values not matching valid_data", docs, docsInsert, []func(*milvuspb.InsertRequest){set(withValid(floatCol("price", 1, 2), true, false))},
			&want{CodeParameterInvalid, "the length of field is wrong: invalid parameter[expected=1][actual=2]"}},
		{"valid_data on a non-nullable field", docs, docsInsert, []func(*milvuspb.InsertRequest){set(withValid(strCol("title", "a", "b"), true, true))},
			&want{CodeParameterInvalid, "the length of valid_data of field(title) is wrong: invalid parameter[expected=0][actual=2]"}},
		{"default field without valid_data", docs, docsInsert, []func(*milvuspb.InsertRequest){set(doubleCol("rating", 1, 2))},
			&want{CodeParameterInvalid, "the length of valid_data of field(rating) is wrong: invalid parameter[expected=2][actual=0]"}},
		{"partition name invalid", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.PartitionName = "p$" }},
			plain("Invalid partition name: p$. Partition name can only contain numbers, letters and underscores.")},
		{"partition unknown", docs, docsInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.PartitionName = "nope" }},
			&want{CodePartitionNotFound, "partition not found[partition=nope]"}},
		{"valid auto-ID insert", multi, multiInsert, nil, ok()},
		{"auto-ID primary key supplied", multi, multiInsert, []func(*milvuspb.InsertRequest){set(longCol("pk", 9))},
			&want{CodeParameterInvalid, "more fieldData has pass in: invalid parameter[expected=7][actual=8]"}},
		{"BM25 output supplied", multi, multiInsert, []func(*milvuspb.InsertRequest){set(sparseCol("sparse", sparseBytes(1, 1)))},
			&want{CodeParameterInvalid, "more fieldData has pass in: invalid parameter[expected=7][actual=8]"}},
		{"partition name with a partition key", multi, multiInsert, []func(*milvuspb.InsertRequest){func(r *milvuspb.InsertRequest) { r.PartitionName = "_default_0" }},
			plain("not support manually specifying the partition names if partition key mode is used")},
		{"binary vector bits not a multiple of dim", multi, multiInsert, []func(*milvuspb.InsertRequest){set(binCol("bin", 16, []byte{1, 2, 3}))},
			plain("the num(24) of all bits should divide the dim(16)")},
		{"float16 vector with NaN", multi, multiInsert, []func(*milvuspb.InsertRequest){set(halfCol("half", 4, []byte{0, 0, 0x01, 0x7e, 0, 0, 0, 0}))},
			plain("float16 vector contain nan or infinity value.")},
		{"float16 length not a multiple of dim", multi, multiInsert, []func(*milvuspb.InsertRequest){set(halfCol("half", 4, make([]byte, 6)))},
			plain("the length(6) of float16 data should divide the dim(4)")},
		{"dynamic data without dynamic schema", multi, multiInsert, []func(*milvuspb.InsertRequest){set(dynCol(`{}`))},
			p1100("fieldName $meta not exist in collection schema, fieldType JSON, fieldId 0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.base()
			for _, e := range tc.edit {
				e(req)
			}
			check(t, Insert(req, tc.schema(t)), tc.want)
		})
	}
}

func TestInsertAllowInsertAutoID(t *testing.T) {
	s := mustSchema(t, multiSchema(), nil, kv("allow_insert_auto_id", "true")...)
	req := multiInsert()
	set(longCol("pk", 9))(req)
	check(t, Insert(req, s), ok())
}

func TestInsertSparse(t *testing.T) {
	cs := multiSchema()
	cs.Functions = nil // sparse is a plain input field here
	cs.Fields[2].IsFunctionOutput = false
	s := mustSchema(t, cs, nil)
	for _, tc := range []struct {
		name string
		rows [][]byte
		want *want
	}{
		{"valid rows", [][]byte{sparseBytes(1, 0.5, 4, 2)}, ok()},
		{"empty row", [][]byte{{}}, ok()},
		{"same index twice", [][]byte{sparseBytes(4, 0.5, 4, 2)}, plain("unsorted or same indices in sparse float vector")},
		{"NaN value", [][]byte{sparseBytes(1, math.NaN())}, plain("value 'NaN' is not a number or infinity")},
		{"rows differ from num_rows", [][]byte{sparseBytes(1, 1), sparseBytes(2, 1)},
			&want{CodeParameterInvalid, "the num_rows (2) of field (sparse) is not equal to passed num_rows (1): invalid parameter[expected=1][actual=2]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := multiInsert()
			set(sparseCol("sparse", tc.rows...))(req)
			check(t, Insert(req, s), tc.want)
		})
	}
}

func TestUpsert(t *testing.T) {
	upsert := func(edit ...func(*milvuspb.InsertRequest)) *milvuspb.UpsertRequest {
		r := docsInsert()
		for _, e := range edit {
			e(r)
		}
		return &milvuspb.UpsertRequest{CollectionName: r.CollectionName, PartitionName: r.PartitionName, FieldsData: r.FieldsData, NumRows: r.NumRows}
	}
	for _, tc := range []struct {
		name   string
		schema func(testing.TB) *Schema
		req    *milvuspb.UpsertRequest
		want   *want
	}{
		{"valid", docs, upsert(), ok()},
		{"duplicate primary keys", docs, upsert(set(longCol("id", 7, 7))), p1100("duplicate primary keys are not allowed in the same batch")},
		{"duplicate string primary keys", docs, upsert(set(strCol("id", "a", "a"))), p1100("duplicate primary keys are not allowed in the same batch")},
		{"primary key missing", docs, upsert(drop("id")), p1100("fieldSchema(id) has no corresponding fieldData pass in")},
		{"partial update may omit fields", docs, func() *milvuspb.UpsertRequest {
			r := upsert(drop("vec"), drop("title"))
			r.PartialUpdate = true
			return r
		}(), ok()},
		{"partial update without the primary key", docs, func() *milvuspb.UpsertRequest {
			r := upsert(drop("id"))
			r.PartialUpdate = true
			return r
		}(), p1100("must assign pk when upsert, primary field: id")},
		{"auto-ID collection needs the key", multi, func() *milvuspb.UpsertRequest {
			r := multiInsert()
			return &milvuspb.UpsertRequest{CollectionName: "multi", FieldsData: r.FieldsData, NumRows: 1}
		}(), p1100("fieldSchema(pk) has no corresponding fieldData pass in")},
		{"auto-ID collection with the key", multi, func() *milvuspb.UpsertRequest {
			r := multiInsert()
			set(longCol("pk", 3))(r)
			return &milvuspb.UpsertRequest{CollectionName: "multi", FieldsData: r.FieldsData, NumRows: 1}
		}(), ok()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Upsert(tc.req, tc.schema(t)), tc.want)
		})
	}
}
