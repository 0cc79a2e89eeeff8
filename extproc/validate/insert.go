package validate

import (
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// Insert checks an insert request in the order of insertTask.PreExecute,
// then the partition lookup Execute does.
func Insert(req *milvuspb.InsertRequest, s *Schema) *Error {
	return mutation(s, mutationRequest{
		collection: req.GetCollectionName(),
		partition:  req.GetPartitionName(),
		columns:    req.GetFieldsData(),
		numRows:    req.GetNumRows(),
		insert:     true,
	})
}

// Upsert checks an upsert request: the insert checks with the primary key
// required (auto-ID or not) and unique within the batch. A partial update
// may omit fields; their presence is left to the backend, which knows
// whether each row exists.
func Upsert(req *milvuspb.UpsertRequest, s *Schema) *Error {
	return mutation(s, mutationRequest{
		collection: req.GetCollectionName(),
		partition:  req.GetPartitionName(),
		columns:    req.GetFieldsData(),
		numRows:    req.GetNumRows(),
		partial:    req.GetPartialUpdate(),
	})
}

type mutationRequest struct {
	collection, partition string
	columns               []*schemapb.FieldData
	numRows               uint32
	insert                bool // false for upsert
	partial               bool // partial upsert
}

// maxTrackedFields bounds the per-request field index kept on the stack;
// Milvus allows 64 user fields plus $meta.
const maxTrackedFields = 128

// columnSet maps request columns to schema fields.
type columnSet struct {
	index   [maxTrackedFields]int32 // schema field -> column + 1, 0 when absent
	dynamic int                     // column carrying $meta, -1 when none
	// implicitMeta is the {} column the Proxy adds to a dynamic collection
	// when the request carries no dynamic data.
	implicitMeta bool
	structs      bool // the schema has struct array fields: presence is not checked
}

func mutation(s *Schema, r mutationRequest) *Error {
	if err := collectionName(r.collection, "name"); err != nil {
		return err
	}
	if len(s.fields) > maxTrackedFields {
		return nil // larger than any schema Milvus accepts: left to the backend
	}
	if !r.insert {
		if err := uniquePrimaryKeys(s, r.columns); err != nil {
			return err
		}
	}
	var cs columnSet
	if err := cs.resolve(s, r.columns); err != nil {
		return err
	}
	if r.numRows == 0 {
		return paramInvalid("invalid num_rows", "0", "num_rows should be greater than 0")
	}
	if err := cs.presence(s, r); err != nil {
		return err
	}
	if err := cs.primaryKey(s, r); err != nil {
		return err
	}
	if s.partitionKey >= 0 {
		if r.partition != "" {
			return unexpected("not support manually specifying the partition names if partition key mode is used")
		}
	} else if r.partition != "" {
		if err := partitionTag(r.partition, true); err != nil {
			return err
		}
	}
	if err := cs.validateColumns(s, r); err != nil {
		return err
	}
	if r.partition != "" && s.partitionKey < 0 {
		if _, ok := s.partitionSet[r.partition]; !ok {
			return partitionNotFound(r.partition)
		}
	}
	return nil
}

// resolve maps columns to fields (the dynamic column becomes $meta), runs
// the dynamic-data checks and rejects unknown fields.
func (cs *columnSet) resolve(s *Schema, cols []*schemapb.FieldData) *Error {
	cs.dynamic = -1
	cs.structs = len(s.Collection.GetStructArrayFields()) > 0
	if s.dynamic >= 0 {
		for i, c := range cols {
			if c.GetIsDynamic() {
				cs.dynamic = i
				break
			}
		}
		if cs.dynamic < 0 {
			cs.implicitMeta = true
		} else if err := dynamicRows(s, cols, cs.dynamic); err != nil {
			return err
		}
	}
	for i, c := range cols {
		name := cs.columnName(i, c)
		if _, ok := s.byName[name]; ok {
			continue
		}
		if cs.structs && isStructField(s, name) {
			continue
		}
		return paramInvalidMsg("fieldName %v not exist in collection schema, fieldType %v, fieldId %v", c.GetFieldName(), c.GetType(), c.GetFieldId())
	}
	return nil
}

// columnName is the name the Proxy files column i under.
func (cs *columnSet) columnName(i int, c *schemapb.FieldData) string {
	if i == cs.dynamic {
		return metaFieldName
	}
	return c.GetFieldName()
}

func isStructField(s *Schema, name string) bool {
	for _, sf := range s.Collection.GetStructArrayFields() {
		if sf.GetName() == name {
			return true
		}
	}
	return false
}

// presence is checkFieldsDataBySchema: no duplicated column, every required
// field present, and no extra column (such as an auto-ID primary key).
func (cs *columnSet) presence(s *Schema, r mutationRequest) *Error {
	for i, c := range r.columns {
		name := cs.columnName(i, c)
		fi, ok := s.byName[name]
		if !ok {
			continue // struct array column
		}
		if cs.index[fi] != 0 {
			return paramInvalidMsg("duplicated field %s found", name)
		}
		cs.index[fi] = int32(i + 1)
	}
	if cs.implicitMeta {
		if cs.index[s.dynamic] != 0 {
			return paramInvalidMsg("duplicated field %s found", metaFieldName)
		}
	}
	if r.partial || cs.structs {
		return nil
	}
	pk := &s.fields[s.pk]
	hasPK := cs.index[s.pk] != 0
	autoPK := r.insert && pk.GetAutoID() && (!s.allowInsertAutoID || !hasPK)
	actual := len(r.columns)
	if cs.implicitMeta {
		actual++
	}
	for i := range s.fields {
		f := &s.fields[i]
		generated := (i == s.pk && autoPK) || f.GetIsFunctionOutput() || f.bm25Output
		if generated {
			actual++
		}
		if cs.index[i] != 0 || (i == s.dynamic && cs.implicitMeta) || generated {
			continue
		}
		if f.GetDefaultValue() == nil && !f.GetNullable() {
			return paramInvalidMsg("fieldSchema(%s) has no corresponding fieldData pass in", f.GetName())
		}
		actual++ // the Proxy appends an all-null column
	}
	if actual != len(s.fields) {
		return paramInvalid(len(s.fields), actual, "more fieldData has pass in")
	}
	return nil
}

// primaryKey is the primary-key part of checkPrimaryFieldData and
// checkUpsertPrimaryFieldData (parsePrimaryFieldData2IDs).
func (cs *columnSet) primaryKey(s *Schema, r mutationRequest) *Error {
	col := cs.index[s.pk]
	if col == 0 {
		if !r.insert && !cs.structs {
			return paramInvalidMsg("must assign pk when upsert, primary field: %v", s.fields[s.pk].GetName())
		}
		return nil
	}
	c := r.columns[col-1]
	scalars, ok := c.GetField().(*schemapb.FieldData_Scalars)
	if !ok {
		return paramInvalidMsg("currently not support vector field as PrimaryField")
	}
	switch scalars.Scalars.GetData().(type) {
	case *schemapb.ScalarField_LongData, *schemapb.ScalarField_StringData:
		return nil
	}
	return paramInvalidMsg("currently only support DataType Int64 or VarChar as PrimaryField")
}

// uniquePrimaryKeys is CheckDuplicatePkExist (upsert only).
func uniquePrimaryKeys(s *Schema, cols []*schemapb.FieldData) *Error {
	name := s.fields[s.pk].GetName()
	for _, c := range cols {
		if c.GetFieldName() != name {
			continue
		}
		dup := false
		if ids := c.GetScalars().GetLongData().GetData(); len(ids) > 1 {
			dup = hasDuplicates(ids)
		} else if ids := c.GetScalars().GetStringData().GetData(); len(ids) > 1 {
			dup = hasDuplicates(ids)
		}
		if dup {
			return paramInvalidMsg("duplicate primary keys are not allowed in the same batch")
		}
		return nil
	}
	return nil
}

func hasDuplicates[T comparable](ids []T) bool {
	seen := make(map[T]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			return true
		}
		seen[id] = struct{}{}
	}
	return false
}

// validateColumns is validateUtil.Validate: per-column type checks, then
// valid_data and null/default filling, then row counts and dimensions.
func (cs *columnSet) validateColumns(s *Schema, r mutationRequest) *Error {
	for i, c := range r.columns {
		if f, ok := s.field(cs.columnName(i, c)); ok {
			if err := checkColumn(c, f); err != nil {
				return err
			}
		}
	}
	rows := int(r.numRows)
	for i, c := range r.columns {
		if f, ok := s.field(cs.columnName(i, c)); ok {
			if err := checkValidData(c, f, rows); err != nil {
				return err
			}
		}
	}
	for i, c := range r.columns {
		if f, ok := s.field(cs.columnName(i, c)); ok {
			if err := checkAligned(c, f, rows); err != nil {
				return err
			}
		}
	}
	return nil
}
