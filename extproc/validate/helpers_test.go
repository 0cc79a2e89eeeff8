package validate

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// want is the expected outcome of a validation: nil for success.
type want struct {
	code   int32
	reason string
}

func ok() *want { return nil }

// p1100 is a merr ParameterInvalid reason built by WrapErrParameterInvalidMsg.
func p1100(msg string) *want { return &want{CodeParameterInvalid, msg + ": invalid parameter"} }

// plain is a plain Proxy error: code 65535, message as is.
func plain(msg string) *want { return &want{CodeUnexpected, msg} }

func check(t *testing.T, got *Error, w *want) {
	t.Helper()
	switch {
	case w == nil && got == nil:
	case w == nil:
		t.Fatalf("unexpected error: code=%d reason=%q", got.Code, got.Reason)
	case got == nil:
		t.Fatalf("accepted, want code=%d reason=%q", w.code, w.reason)
	default:
		if got.Code != w.code || got.Reason != w.reason {
			t.Fatalf("got  code=%d reason=%q\nwant code=%d reason=%q", got.Code, got.Reason, w.code, w.reason)
		}
		if got.Legacy != legacyCode(w.code) {
			t.Fatalf("legacy code %v for code %d", got.Legacy, w.code)
		}
	}
}

func kv(pairs ...string) []*commonpb.KeyValuePair {
	out := make([]*commonpb.KeyValuePair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, &commonpb.KeyValuePair{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// f32bytes encodes a query vector as little-endian float32, as SDKs do.
func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// group marshals one PlaceholderValue with the given values.
func group(t testing.TB, typ commonpb.PlaceholderType, values ...[]byte) []byte {
	t.Helper()
	return mustMarshal(t, &commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{Tag: "$0", Type: typ, Values: values}}})
}

func floatGroup(t testing.TB, vecs ...[]float32) []byte {
	t.Helper()
	values := make([][]byte, len(vecs))
	for i, v := range vecs {
		values[i] = f32bytes(v)
	}
	return group(t, commonpb.PlaceholderType_FloatVector, values...)
}

func sparseBytes(pairs ...float64) []byte {
	b := make([]byte, 0, 4*len(pairs))
	for i := 0; i+1 < len(pairs); i += 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(pairs[i]))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(pairs[i+1])))
	}
	return b
}

func fld(id int64, name string, dt schemapb.DataType, params ...string) *schemapb.FieldSchema {
	return &schemapb.FieldSchema{FieldID: id, Name: name, DataType: dt, TypeParams: kv(params...)}
}

// docsSchema is a dynamic collection with one 4-dim float vector:
// id (Int64 PK), title (VarChar 16), vec, price (nullable Float),
// tags (Array<VarChar 5>, capacity 3), meta (JSON), small (Int8),
// rating (Double with a default), plus $meta.
func docsSchema() *schemapb.CollectionSchema {
	id := fld(100, "id", schemapb.DataType_Int64)
	id.IsPrimaryKey = true
	price := fld(103, "price", schemapb.DataType_Float)
	price.Nullable = true
	tags := fld(104, "tags", schemapb.DataType_Array, "max_capacity", "3", "max_length", "5")
	tags.ElementType = schemapb.DataType_VarChar
	rating := fld(107, "rating", schemapb.DataType_Double)
	rating.DefaultValue = &schemapb.ValueField{Data: &schemapb.ValueField_DoubleData{DoubleData: 2.5}}
	meta := fld(108, "$meta", schemapb.DataType_JSON)
	meta.IsDynamic = true
	return &schemapb.CollectionSchema{
		Name:               "docs",
		EnableDynamicField: true,
		Fields: []*schemapb.FieldSchema{
			id,
			fld(101, "title", schemapb.DataType_VarChar, "max_length", "16"),
			fld(102, "vec", schemapb.DataType_FloatVector, "dim", "4"),
			price,
			tags,
			fld(105, "meta", schemapb.DataType_JSON),
			fld(106, "small", schemapb.DataType_Int8),
			rating,
			meta,
		},
	}
}

// multiSchema has several vector fields, an auto-ID key and a partition
// key: pk (Int64, autoID), text (VarChar, BM25 input), sparse (BM25 output),
// dense (FloatVector 4), bin (BinaryVector 16), half (Float16Vector 4),
// category (Int64 partition key).
func multiSchema() *schemapb.CollectionSchema {
	pk := fld(100, "pk", schemapb.DataType_Int64)
	pk.IsPrimaryKey, pk.AutoID = true, true
	sparse := fld(102, "sparse", schemapb.DataType_SparseFloatVector)
	sparse.IsFunctionOutput = true
	category := fld(106, "category", schemapb.DataType_Int64)
	category.IsPartitionKey = true
	return &schemapb.CollectionSchema{
		Name: "multi",
		Fields: []*schemapb.FieldSchema{
			pk,
			fld(101, "text", schemapb.DataType_VarChar, "max_length", "100"),
			sparse,
			fld(103, "dense", schemapb.DataType_FloatVector, "dim", "4"),
			fld(104, "bin", schemapb.DataType_BinaryVector, "dim", "16"),
			fld(105, "half", schemapb.DataType_Float16Vector, "dim", "4"),
			category,
		},
		Functions: []*schemapb.FunctionSchema{{
			Name: "bm25", Type: schemapb.FunctionType_BM25,
			InputFieldNames: []string{"text"}, OutputFieldNames: []string{"sparse"},
		}},
	}
}

func mustSchema(t testing.TB, cs *schemapb.CollectionSchema, partitions []string, props ...*commonpb.KeyValuePair) *Schema {
	t.Helper()
	s, err := NewSchema(cs, partitions, props...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func docs(t testing.TB) *Schema { return mustSchema(t, docsSchema(), []string{"_default", "p1"}) }
func multi(t testing.TB) *Schema {
	return mustSchema(t, multiSchema(), []string{"_default_0", "_default_1"})
}

// Column builders.

func longCol(name string, v ...int64) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Int64, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: v}}}}}
}

func intCol(name string, dt schemapb.DataType, v ...int32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: dt, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: v}}}}}
}

func strCol(name string, v ...string) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_VarChar, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: v}}}}}
}

func floatCol(name string, v ...float32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Float, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: v}}}}}
}

func doubleCol(name string, v ...float64) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Double, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: v}}}}}
}

func jsonCol(name string, v ...string) *schemapb.FieldData {
	rows := make([][]byte, len(v))
	for i, s := range v {
		rows[i] = []byte(s)
	}
	return &schemapb.FieldData{Type: schemapb.DataType_JSON, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: rows}}}}}
}

func dynCol(v ...string) *schemapb.FieldData {
	c := jsonCol("$meta", v...)
	c.IsDynamic = true
	return c
}

func strArrayCol(name string, rows ...[]string) *schemapb.FieldData {
	data := make([]*schemapb.ScalarField, len(rows))
	for i, r := range rows {
		data[i] = &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: r}}}
	}
	return &schemapb.FieldData{Type: schemapb.DataType_Array, FieldName: name, Field: &schemapb.FieldData_Scalars{
		Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{Data: data, ElementType: schemapb.DataType_VarChar}}}}}
}

func vecCol(name string, dim int64, v ...float32) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_FloatVector, FieldName: name, Field: &schemapb.FieldData_Vectors{
		Vectors: &schemapb.VectorField{Dim: dim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: v}}}}}
}

func binCol(name string, dim int64, b []byte) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_BinaryVector, FieldName: name, Field: &schemapb.FieldData_Vectors{
		Vectors: &schemapb.VectorField{Dim: dim, Data: &schemapb.VectorField_BinaryVector{BinaryVector: b}}}}
}

func halfCol(name string, dim int64, b []byte) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_Float16Vector, FieldName: name, Field: &schemapb.FieldData_Vectors{
		Vectors: &schemapb.VectorField{Dim: dim, Data: &schemapb.VectorField_Float16Vector{Float16Vector: b}}}}
}

func sparseCol(name string, rows ...[]byte) *schemapb.FieldData {
	return &schemapb.FieldData{Type: schemapb.DataType_SparseFloatVector, FieldName: name, Field: &schemapb.FieldData_Vectors{
		Vectors: &schemapb.VectorField{Data: &schemapb.VectorField_SparseFloatVector{SparseFloatVector: &schemapb.SparseFloatArray{Contents: rows}}}}}
}

func withValid(c *schemapb.FieldData, valid ...bool) *schemapb.FieldData {
	c.ValidData = valid
	return c
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }
