package validate

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// checkColumn is the per-type part of validateUtil.Validate, with the NaN,
// max length, overflow and max capacity checks the insert path turns on.
func checkColumn(c *schemapb.FieldData, f *fieldInfo) *Error {
	if isVectorType(f.GetDataType()) {
		return checkVectorColumn(c, f)
	}
	return checkScalarColumn(c, f)
}

func checkVectorColumn(c *schemapb.FieldData, f *fieldInfo) *Error {
	name := c.GetFieldName()
	switch f.GetDataType() {
	case schemapb.DataType_FloatVector:
		data := c.GetVectors().GetFloatVector().GetData()
		if data == nil {
			return paramInvalid("need float vector", "got nil", fmt.Sprintf("float vector field '%v' is illegal, array type mismatch", name))
		}
		for _, v := range data {
			if math.Float32bits(v)&float32ExpMask == float32ExpMask {
				return finiteFloat(float64(v))
			}
		}
	case schemapb.DataType_Float16Vector:
		data := c.GetVectors().GetFloat16Vector()
		if data == nil {
			return paramInvalid("need vector_float16 array", "got nil", fmt.Sprintf("float16 float field '%v' is illegal, nil Vector_Float16 type", name))
		}
		return finiteHalfFloats(data, "float16", float16Finite)
	case schemapb.DataType_BFloat16Vector:
		data := c.GetVectors().GetBfloat16Vector()
		if data == nil {
			return paramInvalid("need vector_bfloat16 array", "got nil", fmt.Sprintf("bfloat16 float field '%v' is illegal, nil Vector_BFloat16 type", name))
		}
		return finiteHalfFloats(data, "bfloat16", bfloat16Finite)
	case schemapb.DataType_BinaryVector:
		if c.GetVectors().GetBinaryVector() == nil {
			return paramInvalid("need bytes array", "got nil", fmt.Sprintf("binary float vector field '%v' is illegal, array type mismatch", name))
		}
	case schemapb.DataType_SparseFloatVector:
		sparse := c.GetVectors().GetSparseFloatVector()
		if sparse == nil {
			return paramInvalid("need sparse float array", "got nil", fmt.Sprintf("sparse float field '%v' is illegal, nil SparseFloatVector", name))
		}
		if sparse.GetContents() == nil {
			return paramInvalid("need sparse float array", "got nil", fmt.Sprintf("sparse float field '%v' is illegal, array type mismatch", name))
		}
		for _, row := range sparse.GetContents() {
			if err := sparseRow(row); err != nil {
				return err
			}
		}
	case schemapb.DataType_Int8Vector:
		if c.GetVectors().GetInt8Vector() == nil {
			return paramInvalid("need vector_int8 array", "got nil", fmt.Sprintf("int8 vector field '%v' is illegal, nil Vector_Int8 type", name))
		}
	}
	return nil
}

func checkScalarColumn(c *schemapb.FieldData, f *fieldInfo) *Error {
	name := c.GetFieldName()
	required := f.GetDefaultValue() == nil && !f.GetNullable()
	switch f.GetDataType() {
	case schemapb.DataType_VarChar:
		data := c.GetScalars().GetStringData().GetData()
		if data == nil && required {
			return paramInvalid("need string array", "got nil", fmt.Sprintf("varchar field '%v' is illegal, array type mismatch", name))
		}
		// An auto-ID key is generated, its max_length is not checked.
		if f.maxLength >= 0 && !f.GetAutoID() {
			for i, v := range data {
				if int64(len(v)) > f.maxLength {
					return paramInvalidMsg("length of varchar field %s exceeds max length, row number: %d, length: %d, max length: %d", f.GetName(), i, len(v), f.maxLength)
				}
			}
		}
	case schemapb.DataType_JSON:
		return checkJSONColumn(c, name, required)
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		data := c.GetScalars().GetIntData().GetData()
		if data == nil && required {
			return paramInvalid("need int array", "got nil", fmt.Sprintf("field '%v' is illegal, array type mismatch", name))
		}
		return intRange(data, f.GetDataType())
	case schemapb.DataType_Int64:
		if c.GetScalars().GetLongData().GetData() == nil && required {
			return paramInvalid("need long int array", "got nil", fmt.Sprintf("field '%v' is illegal, array type mismatch", name))
		}
	case schemapb.DataType_Float:
		data := c.GetScalars().GetFloatData().GetData()
		if data == nil && required {
			return paramInvalid("need float32 array", "got nil", fmt.Sprintf("field '%v' is illegal, array type mismatch", name))
		}
		for _, v := range data {
			if err := finiteFloat(float64(v)); err != nil {
				return err
			}
		}
	case schemapb.DataType_Double:
		data := c.GetScalars().GetDoubleData().GetData()
		if data == nil && required {
			return paramInvalid("need float64(double) array", "got nil", fmt.Sprintf("field '%v' is illegal, array type mismatch", name))
		}
		for _, v := range data {
			if err := finiteFloat(v); err != nil {
				return err
			}
		}
	case schemapb.DataType_Array:
		return checkArrayColumn(c, f)
	}
	return nil
}

func checkJSONColumn(c *schemapb.FieldData, name string, required bool) *Error {
	data := c.GetScalars().GetJsonData().GetData()
	if data == nil && required {
		return paramInvalid("need json array", "got nil", fmt.Sprintf("json field '%v' is illegal, array type mismatch", name))
	}
	for _, v := range data {
		if len(v) <= jsonMaxLength {
			continue
		}
		if c.GetIsDynamic() {
			return paramInvalid("valid length dynamic field", "length exceeds max length",
				fmt.Sprintf("the length (%d) of dynamic field exceeds max length (%d)", len(v), jsonMaxLength))
		}
		return paramInvalid("valid length json string", "length exceeds max length",
			fmt.Sprintf("the length (%d) of json field (%s) exceeds max length (%d)", len(v), name, jsonMaxLength))
	}
	return nil
}

// intRange is verifyOverflowByRange for Int8 and Int16 columns.
func intRange(data []int32, t schemapb.DataType) *Error {
	var lo, hi int64
	switch t {
	case schemapb.DataType_Int8:
		lo, hi = math.MinInt8, math.MaxInt8
	case schemapb.DataType_Int16:
		lo, hi = math.MinInt16, math.MaxInt16
	default:
		return nil
	}
	for i, v := range data {
		if int64(v) < lo || int64(v) > hi {
			return paramInvalid("integer doesn't overflow", "out of range", fmt.Sprintf("the %dth element (%d) out of range: [%d, %d]", i, v, lo, hi))
		}
	}
	return nil
}

func float16Finite(v uint16) bool  { return v&0x7c00 != 0x7c00 }
func bfloat16Finite(v uint16) bool { return v&0x7f80 != 0x7f80 }

// finiteHalfFloats is typeutil.VerifyFloats16 / VerifyBFloats16.
func finiteHalfFloats(b []byte, kind string, finite func(uint16) bool) *Error {
	if len(b)%2 != 0 {
		return unexpected("The length of %s is not aligned to 2.", kind)
	}
	for i := 0; i < len(b); i += 2 {
		if !finite(binary.LittleEndian.Uint16(b[i:])) {
			return unexpected("%s vector contain nan or infinity value.", kind)
		}
	}
	return nil
}

// checkArrayColumn is checkArrayFieldData: capacity, then element types.
func checkArrayColumn(c *schemapb.FieldData, f *fieldInfo) *Error {
	data := c.GetScalars().GetArrayData()
	if data == nil {
		return paramInvalid(fmt.Sprintf("need %s array", f.GetElementType()), "got nil",
			fmt.Sprintf("array field '%v' is illegal, array type mismatch", c.GetFieldName()))
	}
	elem := f.GetElementType()
	if f.maxCapacity >= 0 {
		for i, row := range data.GetData() {
			if n := arrayLen(row, elem); int64(n) > f.maxCapacity {
				return paramInvalid("valid length array", "array length exceeds max capacity",
					fmt.Sprintf("the length (%d) of %dth array exceeds max capacity (%d)", n, i, f.maxCapacity))
			}
		}
	}
	want, label := arrayElementKind(elem)
	if label == "" {
		return nil
	}
	for r, row := range data.GetData() {
		got := scalarKind(row.GetData())
		if got == "" {
			return paramInvalid(label, "nil array", "insert data does not match")
		}
		if got != want {
			return paramInvalid(label, got+" array", "insert data does not match")
		}
		switch elem {
		case schemapb.DataType_Int8, schemapb.DataType_Int16:
			if err := intRange(row.GetIntData().GetData(), elem); err != nil {
				return err
			}
		case schemapb.DataType_VarChar, schemapb.DataType_String:
			if f.maxLength < 0 {
				continue
			}
			for i, v := range row.GetStringData().GetData() {
				if int64(len(v)) > f.maxLength {
					return paramInvalidMsg("length of %s array field \"%s\" exceeds max length, row number: %d, array index: %d, length: %d, max length: %d",
						f.GetDataType(), f.GetName(), r, i, len(v), f.maxLength)
				}
			}
		}
	}
	return nil
}

func arrayLen(row *schemapb.ScalarField, elem schemapb.DataType) int {
	switch elem {
	case schemapb.DataType_Bool:
		return len(row.GetBoolData().GetData())
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		return len(row.GetIntData().GetData())
	case schemapb.DataType_Int64:
		return len(row.GetLongData().GetData())
	case schemapb.DataType_String, schemapb.DataType_VarChar:
		return len(row.GetStringData().GetData())
	case schemapb.DataType_Float:
		return len(row.GetFloatData().GetData())
	case schemapb.DataType_Double:
		return len(row.GetDoubleData().GetData())
	}
	return 0
}

// arrayElementKind is the oneof type checkArrayElement expects for an
// element type and the label its errors use.
func arrayElementKind(elem schemapb.DataType) (want, label string) {
	switch elem {
	case schemapb.DataType_Bool:
		return "*schemapb.ScalarField_BoolData", "bool array"
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		return "*schemapb.ScalarField_IntData", "int array"
	case schemapb.DataType_Int64:
		return "*schemapb.ScalarField_LongData", "int64 array"
	case schemapb.DataType_Float:
		return "*schemapb.ScalarField_FloatData", "float array"
	case schemapb.DataType_Double:
		return "*schemapb.ScalarField_DoubleData", "double array"
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		return "*schemapb.ScalarField_StringData", "string array"
	}
	return "", ""
}

// scalarKind names a ScalarField oneof the way reflect.TypeOf prints it.
func scalarKind(d any) string {
	switch d.(type) {
	case *schemapb.ScalarField_BoolData:
		return "*schemapb.ScalarField_BoolData"
	case *schemapb.ScalarField_IntData:
		return "*schemapb.ScalarField_IntData"
	case *schemapb.ScalarField_LongData:
		return "*schemapb.ScalarField_LongData"
	case *schemapb.ScalarField_FloatData:
		return "*schemapb.ScalarField_FloatData"
	case *schemapb.ScalarField_DoubleData:
		return "*schemapb.ScalarField_DoubleData"
	case *schemapb.ScalarField_StringData:
		return "*schemapb.ScalarField_StringData"
	case *schemapb.ScalarField_BytesData:
		return "*schemapb.ScalarField_BytesData"
	case *schemapb.ScalarField_ArrayData:
		return "*schemapb.ScalarField_ArrayData"
	case *schemapb.ScalarField_JsonData:
		return "*schemapb.ScalarField_JsonData"
	case *schemapb.ScalarField_GeometryData:
		return "*schemapb.ScalarField_GeometryData"
	case *schemapb.ScalarField_TimestamptzData:
		return "*schemapb.ScalarField_TimestamptzData"
	case *schemapb.ScalarField_GeometryWktData:
		return "*schemapb.ScalarField_GeometryWktData"
	}
	return ""
}

// scalarLen is the length of a scalar column's data, and false when the
// column carries no scalar data the fill step knows.
func scalarLen(c *schemapb.FieldData) (int, bool) {
	switch d := c.GetScalars().GetData().(type) {
	case *schemapb.ScalarField_BoolData:
		return len(d.BoolData.GetData()), true
	case *schemapb.ScalarField_IntData:
		return len(d.IntData.GetData()), true
	case *schemapb.ScalarField_LongData:
		return len(d.LongData.GetData()), true
	case *schemapb.ScalarField_FloatData:
		return len(d.FloatData.GetData()), true
	case *schemapb.ScalarField_DoubleData:
		return len(d.DoubleData.GetData()), true
	case *schemapb.ScalarField_TimestamptzData:
		return len(d.TimestamptzData.GetData()), true
	case *schemapb.ScalarField_StringData:
		return len(d.StringData.GetData()), true
	case *schemapb.ScalarField_ArrayData:
		return len(d.ArrayData.GetData()), true
	case *schemapb.ScalarField_JsonData:
		return len(d.JsonData.GetData()), true
	case *schemapb.ScalarField_GeometryData:
		return len(d.GeometryData.GetData()), true
	case *schemapb.ScalarField_GeometryWktData:
		return len(d.GeometryWktData.GetData()), true
	}
	return 0, false
}

// checkValidData is fillWithValue: valid_data must fit the field's
// nullability and default, and a nullable column carries one value per
// valid row.
func checkValidData(c *schemapb.FieldData, f *fieldInfo, rows int) *Error {
	valid := c.GetValidData()
	validLen, validCount := len(valid), countTrue(valid)
	if f.GetNullable() && validLen == 0 {
		validLen, validCount = rows, rows // the Proxy marks every row valid
	}
	if f.GetDefaultValue() != nil {
		return checkDefaultFill(c, f, rows, validLen, validCount)
	}
	expected := 0
	if f.GetNullable() {
		expected = rows
	}
	if validLen != expected {
		return paramInvalid(expected, validLen, fmt.Sprintf("the length of valid_data of field(%s) is wrong", f.GetName()))
	}
	if !f.GetNullable() {
		return nil
	}
	switch c.GetField().(type) {
	case *schemapb.FieldData_Vectors:
		return nil
	case *schemapb.FieldData_Scalars:
		n, ok := scalarLen(c)
		if !ok {
			return paramInvalidMsg("undefined data type:%s", f.GetDataType())
		}
		if n != validCount {
			return paramInvalid(validCount, n, "the length of field is wrong")
		}
		return nil
	}
	return paramInvalidMsg("undefined data type:%s", f.GetDataType())
}

// checkDefaultFill is FillWithDefaultValue.
func checkDefaultFill(c *schemapb.FieldData, f *fieldInfo, rows, validLen, validCount int) *Error {
	switch c.GetField().(type) {
	case *schemapb.FieldData_Vectors:
		return paramInvalidMsg("vector type not support default value")
	case *schemapb.FieldData_Scalars:
	default:
		return paramInvalidMsg("undefined data type:%s", f.GetDataType())
	}
	if _, ok := c.GetScalars().GetData().(*schemapb.ScalarField_ArrayData); ok {
		return paramInvalid("not set default value", "", "array type not support default value")
	}
	n, ok := scalarLen(c)
	if !ok {
		return paramInvalidMsg("undefined data type:%s", f.GetDataType())
	}
	if validLen != rows {
		return paramInvalid(rows, validLen, fmt.Sprintf("the length of valid_data of field(%s) is wrong", c.GetFieldName()))
	}
	if n != validCount {
		return paramInvalid(validCount, n, "the length of field is wrong")
	}
	return nil
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// checkAligned is validateUtil.checkAligned: dimensions and row counts.
func checkAligned(c *schemapb.FieldData, f *fieldInfo, rows int) *Error {
	var n int
	if isVectorType(f.GetDataType()) {
		var err *Error
		if n, err = vectorRows(c, f); err != nil {
			return err
		}
		if f.GetNullable() && len(c.GetValidData()) > 0 {
			// A nullable vector column carries its valid rows only (Milvus
			// 2.6): they are what must match.
			rows = countTrue(c.GetValidData())
		}
	} else {
		if f.GetNullable() || f.GetDefaultValue() != nil {
			return nil // filled to num_rows by the previous step
		}
		var ok bool
		if n, ok = scalarRows(c, f.GetDataType()); !ok {
			return nil
		}
	}
	if n != rows {
		return paramInvalid(rows, n, fmt.Sprintf("the num_rows (%d) of field (%s) is not equal to passed num_rows (%d)", n, c.GetFieldName(), rows))
	}
	return nil
}

// vectorRows checks a vector column's dim and length and counts its rows,
// in the order Milvus checks each vector type.
func vectorRows(c *schemapb.FieldData, f *fieldInfo) (int, *Error) {
	name, dim, dataDim := c.GetFieldName(), f.dim, c.GetVectors().GetDim()
	switch f.GetDataType() {
	case schemapb.DataType_FloatVector:
		l := len(c.GetVectors().GetFloatVector().GetData())
		if err := divides(l, dim, "float"); err != nil {
			return 0, err
		}
		if dataDim != dim {
			return 0, dimMismatch(name, dataDim, dim)
		}
		return l / int(dim), nil
	case schemapb.DataType_BinaryVector:
		if dataDim != dim {
			return 0, dimMismatch(name, dataDim, dim)
		}
		l := int64(len(c.GetVectors().GetBinaryVector()))
		switch {
		case dim <= 0:
			return 0, unexpected("dim(%d) should be greater than 0", dim)
		case dim%8 != 0:
			return 0, unexpected("dim(%d) should divide 8", dim)
		case (l*8)%dim != 0:
			return 0, unexpected("the num(%d) of all bits should divide the dim(%d)", 8*l, dim)
		}
		return int(l * 8 / dim), nil
	case schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector:
		if dataDim != dim {
			return 0, dimMismatch(name, dataDim, dim)
		}
		// Milvus checks the byte length against dim, not 2*dim.
		b, kind := c.GetVectors().GetFloat16Vector(), "float16"
		if f.GetDataType() == schemapb.DataType_BFloat16Vector {
			b, kind = c.GetVectors().GetBfloat16Vector(), "bfloat"
		}
		if err := divides(len(b), dim, kind); err != nil {
			return 0, err
		}
		return len(b) / int(dim) / 2, nil
	case schemapb.DataType_Int8Vector:
		l := len(c.GetVectors().GetInt8Vector())
		if err := divides(l, dim, "int8"); err != nil {
			return 0, err
		}
		if dataDim != dim {
			return 0, dimMismatch(name, dataDim, dim)
		}
		return l / int(dim), nil
	case schemapb.DataType_SparseFloatVector:
		return len(c.GetVectors().GetSparseFloatVector().GetContents()), nil
	}
	// ArrayOfVector, the only other vector type.
	arrays := c.GetVectors().GetVectorArray()
	if arrays.GetDim() != dim {
		return 0, dimMismatch(name, arrays.GetDim(), dim)
	}
	return len(arrays.GetData()), nil
}

// divides is the funcutil GetNumRowsOf*VectorField length check.
func divides(length int, dim int64, kind string) *Error {
	if dim <= 0 {
		return unexpected("dim(%d) should be greater than 0", dim)
	}
	if int64(length)%dim != 0 {
		return unexpected("the length(%d) of %s data should divide the dim(%d)", length, kind, dim)
	}
	return nil
}

func dimMismatch(name string, dataDim, dim int64) *Error {
	return paramInvalid(dim, dataDim, fmt.Sprintf("the dim (%d) of field data(%s) is not equal to schema dim (%d)", dataDim, name, dim))
}

// scalarRows is funcutil.GetNumRowOfFieldDataWithSchema: rows counted in
// the data the schema type implies. A column that carries its values in
// another form is not counted (false): clients send some types in a form the
// backend converts first — pymilvus sends Timestamptz as ISO strings, which
// Milvus parses before it counts — and what the edge does not model it
// leaves to the backend.
func scalarRows(c *schemapb.FieldData, t schemapb.DataType) (int, bool) {
	s := c.GetScalars()
	if t == schemapb.DataType_Timestamptz && s.GetTimestamptzData() == nil {
		return 0, false
	}
	switch t {
	case schemapb.DataType_Bool:
		return len(s.GetBoolData().GetData()), true
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		return len(s.GetIntData().GetData()), true
	case schemapb.DataType_Int64:
		return len(s.GetLongData().GetData()), true
	case schemapb.DataType_Float:
		return len(s.GetFloatData().GetData()), true
	case schemapb.DataType_Double:
		return len(s.GetDoubleData().GetData()), true
	case schemapb.DataType_String, schemapb.DataType_VarChar, schemapb.DataType_Text:
		return len(s.GetStringData().GetData()), true
	case schemapb.DataType_Array:
		return len(s.GetArrayData().GetData()), true
	case schemapb.DataType_JSON:
		return len(s.GetJsonData().GetData()), true
	case schemapb.DataType_Timestamptz:
		return len(s.GetTimestamptzData().GetData()), true
	}
	return 0, false
}
