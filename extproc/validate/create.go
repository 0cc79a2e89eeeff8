package validate

import (
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// CreateCollection decodes the request's schema and checks it in the order
// of createCollectionTask.PreExecute. Function, analyzer, clustering-key
// and collection-property rules are left to the backend.
func CreateCollection(req *milvuspb.CreateCollectionRequest) *Error {
	cs := &schemapb.CollectionSchema{}
	if err := proto.Unmarshal(req.GetSchema(), cs); err != nil {
		return unexpected("%s", err.Error())
	}
	if req.GetShardsNum() > maxShardNum {
		return unexpected("maximum shards's number should be limited to %d", maxShardNum)
	}
	total := len(cs.GetFields())
	for _, sf := range cs.GetStructArrayFields() {
		total += len(sf.GetFields())
	}
	if total > maxFieldNum {
		return unexpected("maximum field's number should be limited to %d", maxFieldNum)
	}
	vectors := 0
	for _, f := range cs.GetFields() {
		if isVectorType(f.GetDataType()) {
			vectors++
		}
	}
	if vectors > maxVectorFieldNum {
		return unexpected("maximum vector field's number should be limited to %d", maxVectorFieldNum)
	}
	if vectors == 0 {
		return paramInvalidMsg("schema does not contain vector field")
	}
	if err := collectionName(cs.GetName(), "name"); err != nil {
		return err
	}
	for _, check := range []func(*schemapb.CollectionSchema) *Error{primaryKey, noDynamicField, autoIDOnPK, fieldTypes} {
		if err := check(cs); err != nil {
			return err
		}
	}
	if err := partitionKey(cs, req.GetNumPartitions()); err != nil {
		return err
	}
	for _, f := range cs.GetFields() {
		if err := field(cs, f); err != nil {
			return err
		}
	}
	seen := make(map[string]struct{}, len(cs.GetFields()))
	for _, f := range cs.GetFields() {
		if _, dup := seen[f.GetName()]; dup {
			return unexpected("duplicated field name %s found", f.GetName())
		}
		seen[f.GetName()] = struct{}{}
	}
	return nil
}

// primaryKey is validatePrimaryKey: exactly one Int64 or VarChar key.
func primaryKey(cs *schemapb.CollectionSchema) *Error {
	idx := -1
	for i, f := range cs.GetFields() {
		if !f.GetIsPrimaryKey() {
			continue
		}
		if idx != -1 {
			return unexpected("there are more than one primary key, field name = %s, %s", cs.GetFields()[idx].GetName(), f.GetName())
		}
		if t := f.GetDataType(); t != schemapb.DataType_Int64 && t != schemapb.DataType_VarChar {
			return unexpected("the data type of primary key should be Int64 or VarChar")
		}
		idx = i
	}
	if idx == -1 {
		return unexpected("primary key is not specified")
	}
	return nil
}

// noDynamicField is validateDynamicField: $meta is added by Milvus.
func noDynamicField(cs *schemapb.CollectionSchema) *Error {
	for _, f := range cs.GetFields() {
		if f.GetIsDynamic() {
			return unexpected("cannot explicitly set a field as a dynamic field")
		}
	}
	return nil
}

// autoIDOnPK is ValidateFieldAutoID ("speficy" is Milvus's spelling).
func autoIDOnPK(cs *schemapb.CollectionSchema) *Error {
	idx := -1
	for i, f := range cs.GetFields() {
		if !f.GetAutoID() {
			continue
		}
		if idx != -1 {
			return unexpected("only one field can speficy AutoID with true, field name = %s, %s", cs.GetFields()[idx].GetName(), f.GetName())
		}
		idx = i
		if !f.GetIsPrimaryKey() {
			return unexpected("only primary field can speficy AutoID with true, field name = %s", f.GetName())
		}
	}
	return nil
}

// fieldTypes is validateFieldType.
func fieldTypes(cs *schemapb.CollectionSchema) *Error {
	for _, f := range cs.GetFields() {
		switch f.GetDataType() {
		case schemapb.DataType_String:
			return unexpected("string data type not supported yet, please use VarChar type instead")
		case schemapb.DataType_None:
			return unexpected("data type None is not valid")
		case schemapb.DataType_Array:
			switch e := f.GetElementType(); e {
			case schemapb.DataType_Bool, schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32,
				schemapb.DataType_Int64, schemapb.DataType_Float, schemapb.DataType_Double, schemapb.DataType_VarChar:
			case schemapb.DataType_String:
				return unexpected("string data type not supported yet, please use VarChar type instead")
			case schemapb.DataType_None:
				return unexpected("element data type None is not valid")
			default:
				return unexpected("element type %s is not supported", e)
			}
		}
	}
	return nil
}

// partitionKey is createCollectionTask.validatePartitionKey.
func partitionKey(cs *schemapb.CollectionSchema, numPartitions int64) *Error {
	idx := -1
	for i, f := range cs.GetFields() {
		if !f.GetIsPartitionKey() {
			continue
		}
		if idx != -1 {
			return unexpected("there are more than one partition key, field name = %s, %s", cs.GetFields()[idx].GetName(), f.GetName())
		}
		if f.GetIsPrimaryKey() {
			return unexpected("the partition key field must not be primary field")
		}
		if f.GetNullable() {
			return paramInvalidMsg("partition key field not support nullable")
		}
		if t := f.GetDataType(); t != schemapb.DataType_Int64 && t != schemapb.DataType_VarChar {
			return unexpected("the data type of partition key should be Int64 or VarChar")
		}
		if numPartitions < 0 {
			return unexpected("the specified partitions should be greater than 0 if partition key is used")
		}
		if numPartitions > maxPartitionNum {
			return paramInvalidMsg("partition number (%d) exceeds max configuration (%d)", numPartitions, maxPartitionNum)
		}
		idx = i
	}
	if idx == -1 && numPartitions > 0 {
		return unexpected("num_partitions should only be specified with partition key field enabled")
	}
	return nil
}

// field is ValidateField: name, dimension, max_length and max_capacity.
func field(cs *schemapb.CollectionSchema, f *schemapb.FieldSchema) *Error {
	if err := fieldName(f.GetName()); err != nil {
		return err
	}
	if isVectorType(f.GetDataType()) {
		if err := dimension(f); err != nil {
			return err
		}
	}
	if f.GetDataType() == schemapb.DataType_VarChar ||
		(f.GetDataType() == schemapb.DataType_Array && f.GetElementType() == schemapb.DataType_VarChar) {
		if err := maxLength(cs, f); err != nil {
			return err
		}
	}
	if f.GetDataType() == schemapb.DataType_Array {
		return maxCapacity(cs, f)
	}
	return nil
}

// dimension is validateDimension.
func dimension(f *schemapb.FieldSchema) *Error {
	var dim int64
	exist := false
	for _, kv := range f.GetTypeParams() {
		if kv.GetKey() != "dim" {
			continue
		}
		v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
		if err != nil {
			return unexpected("%s", err.Error())
		}
		dim, exist = v, true
		break
	}
	if f.GetDataType() == schemapb.DataType_SparseFloatVector {
		if exist {
			return unexpected("dim should not be specified for sparse vector field %s(%d)", f.GetName(), f.GetFieldID())
		}
		return nil
	}
	if !exist {
		return unexpected("dimension is not defined in field type params of field %s, check type param `dim` for vector field", f.GetName())
	}
	if dim <= 1 {
		return unexpected("invalid dimension: %d. should be in range 2 ~ %d", dim, maxDimension)
	}
	if f.GetDataType() != schemapb.DataType_BinaryVector {
		if dim > maxDimension {
			return unexpected("invalid dimension: %d of field %s. float vector dimension should be in range 2 ~ %d", dim, f.GetName(), maxDimension)
		}
		return nil
	}
	if dim%8 != 0 {
		return unexpected("invalid dimension: %d of field %s. binary vector dimension should be multiple of 8. ", dim, f.GetName())
	}
	if dim > maxDimension*8 {
		return unexpected("invalid dimension: %d of field %s. binary vector dimension should be in range 2 ~ %d", dim, f.GetName(), maxDimension*8)
	}
	return nil
}

// maxLength is validateMaxLengthPerRow.
func maxLength(cs *schemapb.CollectionSchema, f *schemapb.FieldSchema) *Error {
	exist := false
	for _, kv := range f.GetTypeParams() {
		if kv.GetKey() != "max_length" {
			continue
		}
		v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
		if err != nil {
			return unexpected("%s", err.Error())
		}
		if v > maxVarCharLength || v <= 0 {
			return paramInvalidMsg("the maximum length specified for a VarChar field(%s) should be in (0, %d], but got %d instead", f.GetName(), maxVarCharLength, v)
		}
		exist = true
	}
	if !exist {
		return unexpected("type param(max_length) should be specified for varChar field(%s) of collection %s", f.GetName(), cs.GetName())
	}
	return nil
}

// maxCapacity is validateMaxCapacityPerRow.
func maxCapacity(cs *schemapb.CollectionSchema, f *schemapb.FieldSchema) *Error {
	exist := false
	for _, kv := range f.GetTypeParams() {
		if kv.GetKey() != "max_capacity" {
			continue
		}
		v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
		if err != nil {
			return unexpected("the value for max_capacity of field %s must be an integer", f.GetName())
		}
		if v > maxArrayCapacity || v <= 0 {
			return unexpected("the maximum capacity specified for a Array should be in (0, %d]", maxArrayCapacity)
		}
		exist = true
	}
	if !exist {
		return unexpected("type param(max_capacity) should be specified for array field %s of collection %s", f.GetName(), cs.GetName())
	}
	return nil
}
