package validate

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// Limits from the Milvus 2.6 defaults (pkg/util/paramtable).
const (
	topKLimit            = 16384     // quotaAndLimits.limits.topK, also maxQueryResultWindow and nq
	largeTopKLimit       = 1_000_000 // limits.largeTopK with query_mode=large_topk
	nqLimit              = 16384     // quotaAndLimits.limits.nq
	maxGroupSize         = 10        // quotaAndLimits.limits.maxGroupSize
	maxSearchRequests    = 1024      // defaultMaxSearchRequest
	jsonMaxLength        = 64 << 10  // common.JSONMaxLength
	maxDimension         = 32768     // proxy.maxDimension
	maxVarCharLength     = 65535     // proxy.maxVarCharLength
	maxArrayCapacity     = 4096      // defaultMaxArrayCapacity
	maxFieldNum          = 64        // proxy.maxFieldNum
	maxVectorFieldNum    = 10        // proxy.maxVectorFieldNum (2.6)
	maxShardNum          = 16        // proxy.maxShardNum
	maxPartitionNum      = 1024      // rootCoord.maxPartitionNum
	metaFieldName        = "$meta"   // common.MetaFieldName
	queryModeKey         = "query_mode"
	queryModeLargeTopK   = "large_topk"
	allowInsertAutoIDKey = "allow_insert_auto_id"
)

// fieldInfo is what validation needs about one field, parsed once.
type fieldInfo struct {
	*schemapb.FieldSchema
	dim         int64 // vector dimension, 0 when absent
	maxLength   int64 // varchar (or varchar array element) max_length, -1 when absent
	maxCapacity int64 // array max_capacity, -1 when absent
	bm25Output  bool  // output of a BM25 function: raw data cannot be read back
}

// Schema is what validation needs about a collection, built by the schema
// cache from DescribeCollection (schema and collection properties) and
// ShowPartitions. It is immutable and safe for concurrent use.
type Schema struct {
	Collection *schemapb.CollectionSchema
	Partitions []string // names

	fields       []fieldInfo
	byName       map[string]int
	partitionSet map[string]struct{}
	pk           int   // index of the primary key
	vectors      []int // indexes of vector fields, schema order
	dynamic      int   // index of the $meta field, -1 without dynamic schema
	partitionKey int   // index of the partition key field, -1 without
	// largeTopK raises the topK and query window limits to 1,000,000
	// (collection property query_mode=large_topk, Milvus 2.6.14+).
	largeTopK bool
	// allowInsertAutoID lets inserts carry the auto-ID primary key
	// (collection property allow_insert_auto_id=true, Milvus 2.6.3+).
	allowInsertAutoID bool
}

// NewSchema indexes a collection schema for validation. properties are the
// collection properties from DescribeCollection; the schema's own
// properties are read as well.
func NewSchema(cs *schemapb.CollectionSchema, partitions []string, properties ...*commonpb.KeyValuePair) (*Schema, error) {
	if cs == nil {
		return nil, errors.New("validate: nil collection schema")
	}
	s := &Schema{
		Collection:   cs,
		Partitions:   partitions,
		fields:       make([]fieldInfo, len(cs.GetFields())),
		byName:       make(map[string]int, len(cs.GetFields())),
		partitionSet: make(map[string]struct{}, len(partitions)),
		pk:           -1,
		dynamic:      -1,
		partitionKey: -1,
	}
	for _, p := range partitions {
		s.partitionSet[p] = struct{}{}
	}
	for i, f := range cs.GetFields() {
		if f == nil {
			return nil, fmt.Errorf("validate: collection %s: nil field %d", cs.GetName(), i)
		}
		if _, dup := s.byName[f.GetName()]; dup {
			return nil, fmt.Errorf("validate: collection %s: duplicated field %s", cs.GetName(), f.GetName())
		}
		s.byName[f.GetName()] = i
		s.fields[i] = newFieldInfo(f)
		switch {
		case f.GetIsPrimaryKey():
			s.pk = i
		case f.GetIsDynamic():
			s.dynamic = i
		}
		if f.GetIsPartitionKey() {
			s.partitionKey = i
		}
		if isVectorType(f.GetDataType()) {
			s.vectors = append(s.vectors, i)
		}
	}
	for _, fn := range cs.GetFunctions() {
		if fn.GetType() != schemapb.FunctionType_BM25 {
			continue
		}
		for _, out := range fn.GetOutputFieldNames() {
			if i, ok := s.byName[out]; ok {
				s.fields[i].bm25Output = true
			}
		}
	}
	if s.pk < 0 {
		return nil, fmt.Errorf("validate: collection %s has no primary key", cs.GetName())
	}
	switch {
	case !cs.GetEnableDynamicField():
		s.dynamic = -1
	case s.dynamic < 0:
		// Some servers (milvus-lite 3.x) report enable_dynamic_field without
		// listing the $meta field that holds the dynamic keys; clients still
		// send a $meta JSON column, so the field is added here.
		meta := &schemapb.FieldSchema{Name: metaFieldName, DataType: schemapb.DataType_JSON, IsDynamic: true}
		s.byName[metaFieldName] = len(s.fields)
		s.fields = append(s.fields, newFieldInfo(meta))
		s.dynamic = len(s.fields) - 1
	}
	for _, kvs := range [][]*commonpb.KeyValuePair{cs.GetProperties(), properties} {
		if v, ok := lookup(kvs, queryModeKey); ok && v == queryModeLargeTopK {
			s.largeTopK = true
		}
		if v, ok := lookup(kvs, allowInsertAutoIDKey); ok {
			s.allowInsertAutoID, _ = strconv.ParseBool(v)
		}
	}
	return s, nil
}

func newFieldInfo(f *schemapb.FieldSchema) fieldInfo {
	fi := fieldInfo{FieldSchema: f, maxLength: -1, maxCapacity: -1}
	for _, kv := range f.GetTypeParams() {
		v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
		if err != nil {
			continue
		}
		switch kv.GetKey() {
		case "dim":
			fi.dim = v
		case "max_length":
			fi.maxLength = v
		case "max_capacity":
			fi.maxCapacity = v
		}
	}
	return fi
}

// field returns the field called name.
func (s *Schema) field(name string) (*fieldInfo, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.fields[i], true
}

func (s *Schema) topKLimit() int64 {
	if s.largeTopK {
		return largeTopKLimit
	}
	return topKLimit
}

// lookup is funcutil.GetAttrByKeyFromRepeatedKV: the first pair wins.
func lookup(kvs []*commonpb.KeyValuePair, key string) (string, bool) {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue(), true
		}
	}
	return "", false
}

func isVectorType(t schemapb.DataType) bool {
	switch t {
	case schemapb.DataType_FloatVector, schemapb.DataType_BinaryVector, schemapb.DataType_Float16Vector,
		schemapb.DataType_BFloat16Vector, schemapb.DataType_SparseFloatVector, schemapb.DataType_Int8Vector,
		schemapb.DataType_ArrayOfVector:
		return true
	}
	return false
}
