package validate

import (
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// createSchema is a valid schema: id (Int64 PK), vec (FloatVector 8),
// title (VarChar 64), tags (Array<Int64>, capacity 10).
func createSchema() *schemapb.CollectionSchema {
	id := fld(0, "id", schemapb.DataType_Int64)
	id.IsPrimaryKey = true
	tags := fld(0, "tags", schemapb.DataType_Array, "max_capacity", "10")
	tags.ElementType = schemapb.DataType_Int64
	return &schemapb.CollectionSchema{Name: "docs", Fields: []*schemapb.FieldSchema{
		id,
		fld(0, "vec", schemapb.DataType_FloatVector, "dim", "8"),
		fld(0, "title", schemapb.DataType_VarChar, "max_length", "64"),
		tags,
	}}
}

func TestCreateCollection(t *testing.T) {
	garbage := []byte{0x22, 0x05, 0x01}
	garbageErr := proto.Unmarshal(garbage, &schemapb.CollectionSchema{}).Error()
	// edit changes the valid schema; f returns the named field.
	type edit func(cs *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema)
	add := func(fs ...*schemapb.FieldSchema) edit {
		return func(cs *schemapb.CollectionSchema, _ func(string) *schemapb.FieldSchema) {
			cs.Fields = append(cs.Fields, fs...)
		}
	}
	params := func(name string, p ...string) edit {
		return func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) {
			f(name).TypeParams = kv(p...)
		}
	}
	partitionKeyOn := func(name string) edit {
		return func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) {
			f(name).IsPartitionKey = true
		}
	}
	manyVectors := func(n int) edit {
		return func(cs *schemapb.CollectionSchema, _ func(string) *schemapb.FieldSchema) {
			for i := 0; i < n; i++ {
				cs.Fields = append(cs.Fields, fld(0, "v"+strconv.Itoa(i), schemapb.DataType_FloatVector, "dim", "4"))
			}
		}
	}
	for _, tc := range []struct {
		name          string
		edits         []edit
		shards        int32
		numPartitions int64
		want          *want
	}{
		{"valid", nil, 2, 0, ok()},
		{"ten vector fields", []edit{manyVectors(9)}, 0, 0, ok()},
		{"sparse, binary and partition key", []edit{
			add(fld(0, "sp", schemapb.DataType_SparseFloatVector), fld(0, "bin", schemapb.DataType_BinaryVector, "dim", "256"), fld(0, "cat", schemapb.DataType_VarChar, "max_length", "8")),
			partitionKeyOn("cat"),
		}, 0, 64, ok()},
		{"shards above 16", nil, 17, 0, plain("maximum shards's number should be limited to 16")},
		{"more than 64 fields", []edit{func(cs *schemapb.CollectionSchema, _ func(string) *schemapb.FieldSchema) {
			for i := 0; i < 61; i++ {
				cs.Fields = append(cs.Fields, fld(0, "f"+strconv.Itoa(i), schemapb.DataType_Bool))
			}
		}}, 0, 0, plain("maximum field's number should be limited to 64")},
		{"more than 10 vector fields", []edit{manyVectors(10)}, 0, 0, plain("maximum vector field's number should be limited to 10")},
		{"no vector field", []edit{func(cs *schemapb.CollectionSchema, _ func(string) *schemapb.FieldSchema) { cs.Fields = cs.Fields[:1] }}, 0, 0,
			p1100("schema does not contain vector field")},
		{"invalid collection name", []edit{func(cs *schemapb.CollectionSchema, _ func(string) *schemapb.FieldSchema) { cs.Name = "my docs" }}, 0, 0,
			p1100("Invalid collection name: my docs.  collection name can only contain numbers, letters and underscores")},
		{"two primary keys", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) {
			f("title").IsPrimaryKey = true
		}}, 0, 0,
			plain("there are more than one primary key, field name = id, title")},
		{"float primary key", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) {
			f("id").DataType = schemapb.DataType_Float
		}}, 0, 0,
			plain("the data type of primary key should be Int64 or VarChar")},
		{"no primary key", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) { f("id").IsPrimaryKey = false }}, 0, 0,
			plain("primary key is not specified")},
		{"explicit dynamic field", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) { f("title").IsDynamic = true }}, 0, 0,
			plain("cannot explicitly set a field as a dynamic field")},
		{"auto-ID on a non-key field", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) { f("title").AutoID = true }}, 0, 0,
			plain("only primary field can speficy AutoID with true, field name = title")},
		{"String type", []edit{add(fld(0, "s", schemapb.DataType_String))}, 0, 0,
			plain("string data type not supported yet, please use VarChar type instead")},
		{"None type", []edit{add(fld(0, "n", schemapb.DataType_None))}, 0, 0, plain("data type None is not valid")},
		{"array of JSON", []edit{func(_ *schemapb.CollectionSchema, f func(string) *schemapb.FieldSchema) {
			f("tags").ElementType = schemapb.DataType_JSON
		}}, 0, 0,
			plain("element type JSON is not supported")},
		{"two partition keys", []edit{add(fld(0, "a", schemapb.DataType_Int64), fld(0, "b", schemapb.DataType_Int64)), partitionKeyOn("a"), partitionKeyOn("b")}, 0, 0,
			plain("there are more than one partition key, field name = a, b")},
		{"partition key on the primary key", []edit{partitionKeyOn("id")}, 0, 0, plain("the partition key field must not be primary field")},
		{"nullable partition key", []edit{add(&schemapb.FieldSchema{Name: "a", DataType: schemapb.DataType_Int64, IsPartitionKey: true, Nullable: true})}, 0, 0,
			p1100("partition key field not support nullable")},
		{"float partition key", []edit{add(fld(0, "a", schemapb.DataType_Float)), partitionKeyOn("a")}, 0, 0,
			plain("the data type of partition key should be Int64 or VarChar")},
		{"too many partitions", []edit{add(fld(0, "a", schemapb.DataType_Int64)), partitionKeyOn("a")}, 0, 2000,
			p1100("partition number (2000) exceeds max configuration (1024)")},
		{"num_partitions without a partition key", nil, 0, 8, plain("num_partitions should only be specified with partition key field enabled")},
		{"field name starts with a digit", []edit{add(fld(0, "1x", schemapb.DataType_Bool))}, 0, 0,
			&want{CodeFieldNameInvalid, "Invalid field name: 1x. The first character of a field name must be an underscore or letter.: field name invalid[field=1x]"}},
		{"field name with a dot", []edit{add(fld(0, "a.b", schemapb.DataType_Bool))}, 0, 0,
			&want{CodeFieldNameInvalid, "Invalid field name: a.b. Field name can only contain numbers, letters, and underscores.: field name invalid[field=a.b]"}},
		{"field name is a keyword", []edit{add(fld(0, "like", schemapb.DataType_Bool))}, 0, 0,
			&want{CodeFieldNameInvalid, "Invalid field name: like. like is keyword in milvus.: field name invalid[field=like]"}},
		{"field name empty", []edit{add(fld(0, "", schemapb.DataType_Bool))}, 0, 0,
			&want{CodeFieldNameInvalid, "field name should not be empty: field name invalid[field=]"}},
		{"dim missing", []edit{params("vec")}, 0, 0,
			plain("dimension is not defined in field type params of field vec, check type param `dim` for vector field")},
		{"dim not a number", []edit{params("vec", "dim", "abc")}, 0, 0, plain(`strconv.ParseInt: parsing "abc": invalid syntax`)},
		{"dim 1", []edit{params("vec", "dim", "1")}, 0, 0, plain("invalid dimension: 1. should be in range 2 ~ 32768")},
		{"dim above 32768", []edit{params("vec", "dim", "32769")}, 0, 0,
			plain("invalid dimension: 32769 of field vec. float vector dimension should be in range 2 ~ 32768")},
		{"binary dim not a multiple of 8", []edit{add(fld(0, "bin", schemapb.DataType_BinaryVector, "dim", "10"))}, 0, 0,
			plain("invalid dimension: 10 of field bin. binary vector dimension should be multiple of 8. ")},
		{"binary dim above 262144", []edit{add(fld(0, "bin", schemapb.DataType_BinaryVector, "dim", "262152"))}, 0, 0,
			plain("invalid dimension: 262152 of field bin. binary vector dimension should be in range 2 ~ 262144")},
		{"sparse with dim", []edit{add(fld(0, "sp", schemapb.DataType_SparseFloatVector, "dim", "8"))}, 0, 0,
			plain("dim should not be specified for sparse vector field sp(0)")},
		{"varchar without max_length", []edit{params("title")}, 0, 0,
			plain("type param(max_length) should be specified for varChar field(title) of collection docs")},
		{"varchar max_length above 65535", []edit{params("title", "max_length", "65536")}, 0, 0,
			p1100("the maximum length specified for a VarChar field(title) should be in (0, 65535], but got 65536 instead")},
		{"varchar max_length zero", []edit{params("title", "max_length", "0")}, 0, 0,
			p1100("the maximum length specified for a VarChar field(title) should be in (0, 65535], but got 0 instead")},
		{"array without max_capacity", []edit{params("tags")}, 0, 0,
			plain("type param(max_capacity) should be specified for array field tags of collection docs")},
		{"array max_capacity above 4096", []edit{params("tags", "max_capacity", "4097")}, 0, 0,
			plain("the maximum capacity specified for a Array should be in (0, 4096]")},
		{"array max_capacity not a number", []edit{params("tags", "max_capacity", "ten")}, 0, 0,
			plain("the value for max_capacity of field tags must be an integer")},
		{"duplicated field names", []edit{add(fld(0, "title", schemapb.DataType_VarChar, "max_length", "8"))}, 0, 0,
			plain("duplicated field name title found")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := createSchema()
			byName := func(name string) *schemapb.FieldSchema {
				for _, f := range cs.Fields {
					if f.Name == name {
						return f
					}
				}
				t.Fatalf("no field %s", name)
				return nil
			}
			for _, e := range tc.edits {
				e(cs, byName)
			}
			req := &milvuspb.CreateCollectionRequest{CollectionName: cs.Name, Schema: mustMarshal(t, cs), ShardsNum: tc.shards, NumPartitions: tc.numPartitions}
			check(t, CreateCollection(req), tc.want)
		})
	}
	t.Run("schema does not decode", func(t *testing.T) {
		check(t, CreateCollection(&milvuspb.CreateCollectionRequest{Schema: garbage}), plain(garbageErr))
	})
}

func TestNewSchema(t *testing.T) {
	if _, err := NewSchema(nil, nil); err == nil {
		t.Error("nil schema accepted")
	}
	cs := docsSchema()
	cs.Fields[0].IsPrimaryKey = false
	if _, err := NewSchema(cs, nil); err == nil {
		t.Error("schema without primary key accepted")
	}
	cs = docsSchema()
	cs.Fields = append(cs.Fields, cs.Fields[1])
	if _, err := NewSchema(cs, nil); err == nil {
		t.Error("duplicated field accepted")
	}
	s := docs(t)
	if s.dynamic < 0 || s.pk != 0 || len(s.vectors) != 1 || s.partitionKey != -1 {
		t.Errorf("index: dynamic=%d pk=%d vectors=%v partitionKey=%d", s.dynamic, s.pk, s.vectors, s.partitionKey)
	}
	if m := multi(t); !m.fields[2].bm25Output || m.partitionKey != 6 || len(m.vectors) != 4 {
		t.Errorf("multi index: %+v", m.fields[2])
	}
}
