package validate

import (
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// typeCase is one field of a Milvus 2.6 DataType and a 3-row column for it,
// in the form a client sends (pymilvus where forms differ).
type typeCase struct {
	field  *schemapb.FieldSchema
	column *schemapb.FieldData
	// structs: the field is a struct array field, not a plain one.
	structs *schemapb.StructArrayFieldSchema
}

func scalarColumn(name string, t schemapb.DataType, d *schemapb.ScalarField) *schemapb.FieldData {
	return &schemapb.FieldData{FieldName: name, Type: t, Field: &schemapb.FieldData_Scalars{Scalars: d}}
}

func vectorColumn(name string, t schemapb.DataType, dim int64, v *schemapb.VectorField) *schemapb.FieldData {
	v.Dim = dim
	return &schemapb.FieldData{FieldName: name, Type: t, Field: &schemapb.FieldData_Vectors{Vectors: v}}
}

// typeCases has a case for every DataType a field can have in Milvus 2.6;
// TestInsertEveryDataType fails when the proto gains one without a case.
func typeCases() map[schemapb.DataType]typeCase {
	field := func(t schemapb.DataType, params ...string) *schemapb.FieldSchema {
		return &schemapb.FieldSchema{FieldID: 102, Name: "f", DataType: t, TypeParams: kv(params...)}
	}
	sc := func(t schemapb.DataType, d *schemapb.ScalarField, params ...string) typeCase {
		return typeCase{field: field(t, params...), column: scalarColumn("f", t, d)}
	}
	vc := func(t schemapb.DataType, dim int64, v *schemapb.VectorField) typeCase {
		return typeCase{field: field(t, "dim", strconv.FormatInt(dim, 10)), column: vectorColumn("f", t, dim, v)}
	}
	ints := &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: []int32{1, 2, 3}}}}
	strs := &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{"a", "b", "c"}}}}
	return map[schemapb.DataType]typeCase{
		schemapb.DataType_Bool:    sc(schemapb.DataType_Bool, &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: []bool{true, false, true}}}}),
		schemapb.DataType_Int8:    sc(schemapb.DataType_Int8, ints),
		schemapb.DataType_Int16:   sc(schemapb.DataType_Int16, ints),
		schemapb.DataType_Int32:   sc(schemapb.DataType_Int32, ints),
		schemapb.DataType_Int64:   sc(schemapb.DataType_Int64, &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{1, 2, 3}}}}),
		schemapb.DataType_Float:   sc(schemapb.DataType_Float, &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: []float32{1, 2, 3}}}}),
		schemapb.DataType_Double:  sc(schemapb.DataType_Double, &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: []float64{1, 2, 3}}}}),
		schemapb.DataType_String:  sc(schemapb.DataType_String, strs),
		schemapb.DataType_VarChar: sc(schemapb.DataType_VarChar, strs, "max_length", "8"),
		schemapb.DataType_Text:    sc(schemapb.DataType_Text, strs),
		schemapb.DataType_Array: {
			field: &schemapb.FieldSchema{FieldID: 102, Name: "f", DataType: schemapb.DataType_Array, ElementType: schemapb.DataType_Int64, TypeParams: kv("max_capacity", "4")},
			column: scalarColumn("f", schemapb.DataType_Array, &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{
				ElementType: schemapb.DataType_Int64, Data: []*schemapb.ScalarField{
					{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{1}}}},
					{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{1, 2}}}},
					{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{}}},
				}}}}),
		},
		schemapb.DataType_JSON: sc(schemapb.DataType_JSON, &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{[]byte(`{"a":1}`), []byte(`[]`), []byte(`1`)}}}}),
		// pymilvus sends geometry as WKT strings.
		schemapb.DataType_Geometry: sc(schemapb.DataType_Geometry, &schemapb.ScalarField{Data: &schemapb.ScalarField_GeometryWktData{GeometryWktData: &schemapb.GeometryWktArray{Data: []string{"POINT (1 2)", "POINT (3 4)", "POINT (5 6)"}}}}),
		// pymilvus sends Timestamptz as ISO 8601 strings; the backend parses them.
		schemapb.DataType_Timestamptz:    sc(schemapb.DataType_Timestamptz, &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{"2025-01-01T00:00:00Z", "2025-01-02T00:00:00+08:00", "2025-01-03T00:00:00Z"}}}}),
		schemapb.DataType_BinaryVector:   vc(schemapb.DataType_BinaryVector, 16, &schemapb.VectorField{Data: &schemapb.VectorField_BinaryVector{BinaryVector: make([]byte, 3*2)}}),
		schemapb.DataType_FloatVector:    vc(schemapb.DataType_FloatVector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{1, 2, 3, 4, 5, 6}}}}),
		schemapb.DataType_Float16Vector:  vc(schemapb.DataType_Float16Vector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_Float16Vector{Float16Vector: make([]byte, 3*2*2)}}),
		schemapb.DataType_BFloat16Vector: vc(schemapb.DataType_BFloat16Vector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_Bfloat16Vector{Bfloat16Vector: make([]byte, 3*2*2)}}),
		schemapb.DataType_SparseFloatVector: {
			field:  &schemapb.FieldSchema{FieldID: 102, Name: "f", DataType: schemapb.DataType_SparseFloatVector},
			column: vectorColumn("f", schemapb.DataType_SparseFloatVector, 0, &schemapb.VectorField{Data: &schemapb.VectorField_SparseFloatVector{SparseFloatVector: &schemapb.SparseFloatArray{Contents: [][]byte{sparseBytes(1, 0.5), sparseBytes(2, 1), {}}}}}),
		},
		schemapb.DataType_Int8Vector: vc(schemapb.DataType_Int8Vector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_Int8Vector{Int8Vector: make([]byte, 3*2)}}),
		// Vector arrays and structs live in struct array fields (the schema's
		// StructArrayFields); their columns are passed to the backend.
		schemapb.DataType_ArrayOfVector: structCase(schemapb.DataType_ArrayOfVector),
		schemapb.DataType_ArrayOfStruct: structCase(schemapb.DataType_ArrayOfStruct),
		schemapb.DataType_Struct:        structCase(schemapb.DataType_Struct),
	}
}

// structCase is a struct array field "st" with a vector array sub-field,
// and its column as the Go SDK sends it.
func structCase(schemapb.DataType) typeCase {
	sub := &schemapb.FieldSchema{FieldID: 201, Name: "emb", DataType: schemapb.DataType_ArrayOfVector, ElementType: schemapb.DataType_FloatVector, TypeParams: kv("dim", "2", "max_capacity", "4")}
	col := &schemapb.FieldData{FieldName: "st", Type: schemapb.DataType_ArrayOfStruct, Field: &schemapb.FieldData_StructArrays{StructArrays: &schemapb.StructArrayField{Fields: []*schemapb.FieldData{
		vectorColumn("emb", schemapb.DataType_ArrayOfVector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_VectorArray{VectorArray: &schemapb.VectorArray{Dim: 2, ElementType: schemapb.DataType_FloatVector,
			Data: []*schemapb.VectorField{{Dim: 2}, {Dim: 2}, {Dim: 2}}}}}),
	}}}}
	return typeCase{column: col, structs: &schemapb.StructArrayFieldSchema{FieldID: 200, Name: "st", Fields: []*schemapb.FieldSchema{sub}}}
}

// TestInsertEveryDataType: an insert that carries a valid column of each
// Milvus 2.6 DataType — in the form clients send it — is not refused, on
// its own and nullable (half the rows null); a DataType the proto does not
// know yet passes too. The validator checks what it models and leaves the
// rest to the backend.
func TestInsertEveryDataType(t *testing.T) {
	cases := typeCases()
	for n, name := range schemapb.DataType_name {
		if _, ok := cases[schemapb.DataType(n)]; !ok && n != int32(schemapb.DataType_None) {
			t.Errorf("DataType %s has no case", name)
		}
	}
	cases[schemapb.DataType(999)] = typeCase{
		field:  &schemapb.FieldSchema{FieldID: 102, Name: "f", DataType: 999},
		column: scalarColumn("f", 999, &schemapb.ScalarField{Data: &schemapb.ScalarField_BytesData{BytesData: &schemapb.BytesArray{Data: [][]byte{{1}, {2}, {3}}}}}),
	}
	for dt, tc := range cases {
		for _, nullable := range []bool{false, true} {
			if nullable && (tc.structs != nil || dt == 999) {
				continue
			}
			t.Run(dt.String()+map[bool]string{true: "/nullable"}[nullable], func(t *testing.T) {
				cs := &schemapb.CollectionSchema{Name: "types", Fields: []*schemapb.FieldSchema{
					{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
				}}
				req := &milvuspb.InsertRequest{CollectionName: "types", NumRows: 3, FieldsData: []*schemapb.FieldData{longCol("id", 1, 2, 3)}}
				if dt != schemapb.DataType_FloatVector {
					cs.Fields = append(cs.Fields, &schemapb.FieldSchema{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: kv("dim", "2")})
					req.FieldsData = append(req.FieldsData, vectorColumn("vec", schemapb.DataType_FloatVector, 2, &schemapb.VectorField{Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: []float32{1, 2, 3, 4, 5, 6}}}}))
				}
				col := tc.column
				if tc.structs != nil {
					cs.StructArrayFields = []*schemapb.StructArrayFieldSchema{tc.structs}
				} else {
					f := proto.Clone(tc.field).(*schemapb.FieldSchema)
					f.Nullable = nullable
					cs.Fields = append(cs.Fields, f)
					if nullable {
						col = nullableColumn(t, col)
					}
				}
				req.FieldsData = append(req.FieldsData, col)
				check(t, Insert(req, mustSchema(t, cs, nil)), ok())
			})
		}
	}
}

// nullableColumn keeps rows 0 and 2 of a 3-row column and marks row 1 null:
// valid_data for every row, values for the valid ones only (as pymilvus
// sends a nullable column, vectors included).
func nullableColumn(t *testing.T, c *schemapb.FieldData) *schemapb.FieldData {
	t.Helper()
	out := &schemapb.FieldData{FieldName: c.GetFieldName(), Type: c.GetType(), ValidData: []bool{true, false, true}}
	switch v := c.GetField().(type) {
	case *schemapb.FieldData_Scalars:
		out.Field = &schemapb.FieldData_Scalars{Scalars: keepScalars(t, v.Scalars)}
	case *schemapb.FieldData_Vectors:
		vf := &schemapb.VectorField{Dim: v.Vectors.GetDim()}
		switch d := v.Vectors.GetData().(type) {
		case *schemapb.VectorField_FloatVector:
			x := d.FloatVector.GetData()
			w := len(x) / 3
			vf.Data = &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: append(append([]float32{}, x[:w]...), x[2*w:]...)}}
		case *schemapb.VectorField_SparseFloatVector:
			x := d.SparseFloatVector.GetContents()
			vf.Data = &schemapb.VectorField_SparseFloatVector{SparseFloatVector: &schemapb.SparseFloatArray{Contents: [][]byte{x[0], x[2]}, Dim: d.SparseFloatVector.GetDim()}}
		default:
			b := vectorBytes(v.Vectors)
			w := len(b) / 3
			setBytes(vf, v.Vectors, append(append([]byte{}, b[:w]...), b[2*w:]...))
		}
		out.Field = &schemapb.FieldData_Vectors{Vectors: vf}
	}
	return out
}

func vectorBytes(v *schemapb.VectorField) []byte {
	switch d := v.GetData().(type) {
	case *schemapb.VectorField_BinaryVector:
		return d.BinaryVector
	case *schemapb.VectorField_Float16Vector:
		return d.Float16Vector
	case *schemapb.VectorField_Bfloat16Vector:
		return d.Bfloat16Vector
	case *schemapb.VectorField_Int8Vector:
		return d.Int8Vector
	}
	return nil
}

// setBytes sets vf's data to b, in src's byte-vector form.
func setBytes(vf, src *schemapb.VectorField, b []byte) {
	switch src.GetData().(type) {
	case *schemapb.VectorField_BinaryVector:
		vf.Data = &schemapb.VectorField_BinaryVector{BinaryVector: b}
	case *schemapb.VectorField_Float16Vector:
		vf.Data = &schemapb.VectorField_Float16Vector{Float16Vector: b}
	case *schemapb.VectorField_Bfloat16Vector:
		vf.Data = &schemapb.VectorField_Bfloat16Vector{Bfloat16Vector: b}
	default:
		vf.Data = &schemapb.VectorField_Int8Vector{Int8Vector: b}
	}
}

func keepScalars(t *testing.T, s *schemapb.ScalarField) *schemapb.ScalarField {
	t.Helper()
	switch d := s.GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		x := d.BoolData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: []bool{x[0], x[2]}}}}
	case *schemapb.ScalarField_IntData:
		x := d.IntData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: []int32{x[0], x[2]}}}}
	case *schemapb.ScalarField_LongData:
		x := d.LongData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: []int64{x[0], x[2]}}}}
	case *schemapb.ScalarField_FloatData:
		x := d.FloatData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: []float32{x[0], x[2]}}}}
	case *schemapb.ScalarField_DoubleData:
		x := d.DoubleData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: []float64{x[0], x[2]}}}}
	case *schemapb.ScalarField_StringData:
		x := d.StringData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: []string{x[0], x[2]}}}}
	case *schemapb.ScalarField_ArrayData:
		x := d.ArrayData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{ElementType: d.ArrayData.GetElementType(), Data: []*schemapb.ScalarField{x[0], x[2]}}}}
	case *schemapb.ScalarField_JsonData:
		x := d.JsonData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: [][]byte{x[0], x[2]}}}}
	case *schemapb.ScalarField_GeometryWktData:
		x := d.GeometryWktData.GetData()
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_GeometryWktData{GeometryWktData: &schemapb.GeometryWktArray{Data: []string{x[0], x[2]}}}}
	}
	t.Fatalf("no nullable form for %T", s.GetData())
	return nil
}
