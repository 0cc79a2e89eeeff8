package validate

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The placeholder group is read straight from its wire format: proto.Unmarshal
// would copy every query vector, and a 768-dim search would allocate 3 KiB
// per request for nothing.

// Field numbers of common.PlaceholderGroup and common.PlaceholderValue.
const (
	groupPlaceholders protowire.Number = 1
	valueTag          protowire.Number = 1
	valueType         protowire.Number = 2
	valueValues       protowire.Number = 3
)

type wireField struct {
	num    protowire.Number
	typ    protowire.Type
	bytes  []byte // BytesType payload
	varint uint64 // VarintType value
}

// consumeField reads one field; n < 0 on malformed input.
func consumeField(b []byte) (wireField, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return wireField{}, n
	}
	// ConsumeTag lets numbers up to MaxInt32 through; proto.Unmarshal
	// does not.
	if num > protowire.MaxValidNumber {
		return wireField{}, -1
	}
	f := wireField{num: num, typ: typ}
	var m int
	switch typ {
	case protowire.BytesType:
		f.bytes, m = protowire.ConsumeBytes(b[n:])
	case protowire.VarintType:
		f.varint, m = protowire.ConsumeVarint(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return wireField{}, m
	}
	return f, n + m
}

// wellFormedGroup reports whether b parses as a PlaceholderGroup.
func wellFormedGroup(b []byte) bool {
	for len(b) > 0 {
		f, n := consumeField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if f.num == groupPlaceholders && f.typ == protowire.BytesType && !wellFormedValue(f.bytes) {
			return false
		}
	}
	return true
}

func wellFormedValue(b []byte) bool {
	for len(b) > 0 {
		f, n := consumeField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		// proto3 strings must be valid UTF-8.
		if f.num == valueTag && f.typ == protowire.BytesType && !utf8.Valid(f.bytes) {
			return false
		}
	}
	return true
}

// groupError is the error proto.Unmarshal gives for a malformed group; the
// Proxy returns it as is.
func groupError(b []byte) *Error {
	if err := proto.Unmarshal(b, &commonpb.PlaceholderGroup{}); err != nil {
		return unexpected("%s", err.Error())
	}
	return unexpected("proto: cannot parse invalid wire-format data")
}

// placeholderCount is the number of query vectors in a serialized group.
func placeholderCount(b []byte) (int64, *Error) {
	if !wellFormedGroup(b) {
		return 0, groupError(b)
	}
	var n int64
	for len(b) > 0 {
		f, m := consumeField(b)
		b = b[m:]
		if f.num != groupPlaceholders || f.typ != protowire.BytesType {
			continue
		}
		for v := f.bytes; len(v) > 0; {
			g, k := consumeField(v)
			v = v[k:]
			if g.num == valueValues && g.typ == protowire.BytesType {
				n++
			}
		}
	}
	return n, nil
}

// vectorCheck is how one placeholder's values are checked against the field.
type vectorCheck int

const (
	checkNone   vectorCheck = iota // not checked here (BM25 text, embedding lists)
	checkDense                     // fixed byte size per vector
	checkFloat                     // fixed byte size, float32 values must be finite
	checkSparse                    // sparse rows
)

// placeholderRule maps a placeholder type to a check for field f; ok is
// false when segcore would reject the type.
func placeholderRule(f *fieldInfo, t commonpb.PlaceholderType) (vectorCheck, int, bool) {
	dt := f.GetDataType()
	switch {
	case t == commonpb.PlaceholderType_FloatVector && dt == schemapb.DataType_FloatVector:
		return checkFloat, int(4 * f.dim), true
	case t == commonpb.PlaceholderType_FloatVector && (dt == schemapb.DataType_Float16Vector || dt == schemapb.DataType_BFloat16Vector):
		// The Proxy converts float32 queries to the field's half type.
		return checkFloat, int(4 * f.dim), true
	case t == commonpb.PlaceholderType_Float16Vector && dt == schemapb.DataType_Float16Vector,
		t == commonpb.PlaceholderType_BFloat16Vector && dt == schemapb.DataType_BFloat16Vector:
		return checkDense, int(2 * f.dim), true
	case t == commonpb.PlaceholderType_BinaryVector && dt == schemapb.DataType_BinaryVector:
		return checkDense, int(f.dim / 8), true
	case t == commonpb.PlaceholderType_Int8Vector && dt == schemapb.DataType_Int8Vector:
		return checkDense, int(f.dim), true
	case t == commonpb.PlaceholderType_SparseFloatVector && dt == schemapb.DataType_SparseFloatVector:
		return checkSparse, 0, true
	case t == commonpb.PlaceholderType_VarChar && dt == schemapb.DataType_SparseFloatVector && f.bm25Output:
		return checkNone, 0, true
	case t >= commonpb.PlaceholderType_EmbListBinaryVector && dt == schemapb.DataType_ArrayOfVector:
		return checkNone, 0, true
	}
	return checkNone, 0, false
}

// checkPlaceholders applies the QueryNode's placeholder checks (segcore
// ParsePlaceholderGroup): vector type, byte size per vector, sparse rows,
// plus finite float32 values and nq matching the vector count.
func checkPlaceholders(a *annSearch) *Error {
	f := a.field
	if a.ids {
		return nil
	}
	b := a.placeholder
	if !wellFormedGroup(b) {
		return groupError(b)
	}
	var count int64
	for len(b) > 0 {
		g, n := consumeField(b)
		b = b[n:]
		if g.num != groupPlaceholders || g.typ != protowire.BytesType {
			continue
		}
		if err := checkPlaceholderValue(g.bytes, f, &count); err != nil {
			return err
		}
	}
	if count != a.nq {
		return paramInvalid(a.nq, count, "nq does not match the number of vectors in the placeholder group")
	}
	return nil
}

func checkPlaceholderValue(v []byte, f *fieldInfo, count *int64) *Error {
	var t commonpb.PlaceholderType
	for rest := v; len(rest) > 0; {
		g, n := consumeField(rest)
		rest = rest[n:]
		if g.num == valueType && g.typ == protowire.VarintType {
			t = commonpb.PlaceholderType(int32(g.varint))
		}
	}
	check, size, ok := placeholderRule(f, t)
	if !ok {
		return unexpected("vector type must be the same, field %s - type %s, search info type %s",
			f.GetName(), segcoreTypeName(int32(f.GetDataType())), segcoreTypeName(int32(t)))
	}
	first := -1
	for rest := v; len(rest) > 0; {
		g, n := consumeField(rest)
		rest = rest[n:]
		if g.num != valueValues || g.typ != protowire.BytesType {
			continue
		}
		*count++
		val := g.bytes
		switch check {
		case checkDense, checkFloat:
			if first < 0 {
				if len(val) != size {
					return unexpected("vector dimension mismatch, expected vector size(byte) %d, actual %d.", size, len(val))
				}
				first = len(val)
			} else if len(val) != first {
				return unexpected("vector dimension mismatch, expected vector size(byte) %d, actual %d.", first, len(val))
			}
			if check == checkFloat {
				if err := finiteFloat32Bytes(val); err != nil {
					return err
				}
			}
		case checkSparse:
			if err := sparseRow(val); err != nil {
				return err
			}
		}
	}
	return nil
}

// finiteFloat32Bytes checks little-endian float32 values for NaN and Inf.
func finiteFloat32Bytes(b []byte) *Error {
	for i := 0; i+4 <= len(b); i += 4 {
		if bits := binary.LittleEndian.Uint32(b[i:]); bits&float32ExpMask == float32ExpMask {
			return finiteFloat(float64(math.Float32frombits(bits)))
		}
	}
	return nil
}

// float32ExpMask selects the exponent of a float32: all ones means NaN or
// an infinity.
const float32ExpMask = 0x7f800000

// finiteFloat is typeutil.VerifyFloat (a plain error in Milvus).
func finiteFloat(v float64) *Error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return unexpected("value '%f' is not a number or infinity", v)
	}
	return nil
}

// sparseRow is typeutil.ValidateSparseFloatRows for one row: 8-byte
// (uint32 index, float32 value) pairs, indices strictly increasing and
// below 2^32-1, values finite and non-negative.
func sparseRow(row []byte) *Error {
	if row == nil {
		return unexpected("nil sparse float vector")
	}
	if len(row)%8 != 0 {
		return unexpected("invalid data length in sparse float vector: %d", len(row))
	}
	var prev uint32
	for i := 0; i < len(row); i += 8 {
		idx := binary.LittleEndian.Uint32(row[i:])
		if idx == math.MaxUint32 {
			return unexpected("invalid index in sparse float vector: must be less than 2^32-1")
		}
		if i > 0 && idx <= prev {
			return unexpected("unsorted or same indices in sparse float vector")
		}
		prev = idx
		val := math.Float32frombits(binary.LittleEndian.Uint32(row[i+4:]))
		if err := finiteFloat(float64(val)); err != nil {
			return err
		}
		if val < 0 {
			return unexpected("negative value in sparse float vector")
		}
	}
	return nil
}

// segcoreTypeName is how segcore prints a DataType in its messages.
func segcoreTypeName(t int32) string {
	switch schemapb.DataType(t) {
	case schemapb.DataType_None:
		return "NONE"
	case schemapb.DataType_Bool:
		return "BOOL"
	case schemapb.DataType_Int8:
		return "INT8"
	case schemapb.DataType_Int16:
		return "INT16"
	case schemapb.DataType_Int32:
		return "INT32"
	case schemapb.DataType_Int64:
		return "INT64"
	case schemapb.DataType_Float:
		return "FLOAT"
	case schemapb.DataType_Double:
		return "DOUBLE"
	case schemapb.DataType_String:
		return "STRING"
	case schemapb.DataType_VarChar:
		return "VARCHAR"
	case schemapb.DataType_Array:
		return "ARRAY"
	case schemapb.DataType_JSON:
		return "JSON"
	case schemapb.DataType_BinaryVector:
		return "VECTOR_BINARY"
	case schemapb.DataType_FloatVector:
		return "VECTOR_FLOAT"
	case schemapb.DataType_Float16Vector:
		return "VECTOR_FLOAT16"
	case schemapb.DataType_BFloat16Vector:
		return "VECTOR_BFLOAT16"
	case schemapb.DataType_SparseFloatVector:
		return "VECTOR_SPARSE_U32_F32"
	case schemapb.DataType_Int8Vector:
		return "VECTOR_INT8"
	case schemapb.DataType_ArrayOfVector:
		return "VECTOR_ARRAY"
	}
	return "UNKNOWN"
}
