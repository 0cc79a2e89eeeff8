package milvusgrpc

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// nameSpec renders a Privilege's object name source: "*", "field",
// "field.sub" or "field[]".
func nameSpec(p Privilege) string {
	switch {
	case p.NameField == nil:
		return "*"
	case p.NameSubField != nil:
		return string(p.NameField.Name()) + "." + string(p.NameSubField.Name())
	case p.NameList:
		return string(p.NameField.Name()) + "[]"
	}
	return string(p.NameField.Name())
}

func TestPrivilegeTable(t *testing.T) {
	// From milvus-proxy.md §3.3; "" = the request has no privilege option.
	want := map[string]struct{ objType, priv, name string }{
		"Search":                  {"Collection", "Search", "collection_name"},
		"HybridSearch":            {"Collection", "Search", "collection_name"},
		"Query":                   {"Collection", "Query", "collection_name"},
		"Insert":                  {"Collection", "Insert", "collection_name"},
		"Delete":                  {"Collection", "Delete", "collection_name"},
		"Upsert":                  {"Collection", "Upsert", "collection_name"},
		"CreateCollection":        {"Global", "CreateCollection", "*"},
		"DropCollection":          {"Global", "DropCollection", "*"},
		"TruncateCollection":      {"Global", "DropCollection", "*"},
		"DescribeCollection":      {"Global", "DescribeCollection", "*"},
		"AlterCollection":         {"Global", "CreateCollection", "*"},
		"RenameCollection":        {"Global", "RenameCollection", "*"},
		"LoadCollection":          {"Collection", "Load", "collection_name"},
		"LoadPartitions":          {"Collection", "Load", "collection_name"},
		"ReleaseCollection":       {"Collection", "Release", "collection_name"},
		"GetCollectionStatistics": {"Collection", "GetStatistics", "collection_name"},
		"GetLoadState":            {"Collection", "GetLoadState", "collection_name"},
		"GetLoadingProgress":      {"Collection", "GetLoadState", "collection_name"},
		"CreatePartition":         {"Collection", "CreatePartition", "collection_name"},
		"ShowPartitions":          {"Collection", "ShowPartitions", "collection_name"},
		"CreateIndex":             {"Collection", "CreateIndex", "collection_name"},
		"DescribeIndex":           {"Collection", "IndexDetail", "collection_name"},
		"GetIndexState":           {"Collection", "IndexDetail", "collection_name"},
		"DropIndex":               {"Collection", "DropIndex", "collection_name"},
		"Flush":                   {"Collection", "Flush", "collection_names[]"},
		"FlushAll":                {"Global", "FlushAll", "*"},
		"GetFlushState":           {"Collection", "GetFlushState", "collection_name"},
		"ManualCompaction":        {"Collection", "Compaction", "collection_name"},
		"CreateAlias":             {"Global", "CreateAlias", "*"},
		"ListAliases":             {"Global", "ListAliases", "*"},
		"CreateCredential":        {"Global", "CreateOwnership", "*"},
		"UpdateCredential":        {"User", "UpdateUser", "username"},
		"DeleteCredential":        {"Global", "DropOwnership", "*"},
		"SelectUser":              {"User", "SelectUser", "user.name"},
		"OperatePrivilegeV2":      {"Global", "ManageOwnership", "*"},
		"SelectGrant":             {"Global", "SelectOwnership", "*"},
		"CreateDatabase":          {"Global", "CreateDatabase", "*"},
		"DescribeDatabase":        {"Global", "DescribeDatabase", "*"},
		"CreateResourceGroup":     {"Global", "CreateResourceGroup", "*"},
		"ListDatabases":           {},
		"HasCollection":           {},
		"ShowCollections":         {},
		"GetVersion":              {},
		"Connect":                 {},
		"CheckHealth":             {},
		"CalcDistance":            {},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			m, ok := Lookup(ServicePrefix + name)
			if !ok {
				t.Fatalf("%s not in the method table", name)
			}
			p, ok := m.Privilege()
			if ok != (w.priv != "") {
				t.Fatalf("has option = %v, want %v", ok, w.priv != "")
			}
			if !ok {
				return
			}
			if got := [3]string{p.ObjectType, p.Name, nameSpec(p)}; got != [3]string{w.objType, w.priv, w.name} {
				t.Errorf("privilege = %v, want %v", got, [3]string{w.objType, w.priv, w.name})
			}
		})
	}
}

// TestEveryOptionResolves walks every MilvusService input descriptor: each
// option must yield an object type and a privilege, and a name field that
// exists when the option names one.
func TestEveryOptionResolves(t *testing.T) {
	svc := milvuspb.File_milvus_proto.Services().ByName("MilvusService")
	withOption := 0
	for i := 0; i < svc.Methods().Len(); i++ {
		md := svc.Methods().Get(i)
		m, ok := Lookup(ServicePrefix + string(md.Name()))
		if !ok {
			t.Errorf("%s: not in the method table", md.Name())
			continue
		}
		p, ok := m.Privilege()
		raw, hasRaw := readPrivilege(md.Input())
		if ok != hasRaw || p != raw {
			t.Errorf("%s: precomputed privilege differs from the descriptor", md.Name())
		}
		if !ok {
			continue
		}
		withOption++
		switch p.ObjectType {
		case ObjectCollection, ObjectGlobal, ObjectUser:
		default:
			t.Errorf("%s: object type %q", md.Name(), p.ObjectType)
		}
		if p.Name == "" || p.Name == "All" {
			t.Errorf("%s: privilege %q", md.Name(), p.Name)
		}
		if p.ObjectType == ObjectCollection && p.NameField == nil {
			t.Errorf("%s: collection privilege without a name field", md.Name())
		}
	}
	if withOption < 60 {
		t.Errorf("only %d methods carry a privilege option", withOption)
	}
}

func TestPrivilegeAPIName(t *testing.T) {
	for enum, want := range map[string]string{
		"PrivilegeSearch":                  "Search",
		"PrivilegeGroupReadOnly":           "ReadOnly",
		"PrivilegeGroupCollectionReadOnly": "CollectionReadOnly",
		"PrivilegeCreatePrivilegeGroup":    "CreatePrivilegeGroup",
		"PrivilegeAll":                     "All",
	} {
		if got := PrivilegeAPIName(enum); got != want {
			t.Errorf("PrivilegeAPIName(%q) = %q, want %q", enum, got, want)
		}
	}
	// Every enum value maps to a non-empty name.
	for _, name := range commonpb.ObjectPrivilege_name {
		if PrivilegeAPIName(name) == "" {
			t.Errorf("%s: empty API name", name)
		}
	}
}

func TestPrivilegeUnknownMethod(t *testing.T) {
	if _, ok := (&Method{Name: "X"}).Privilege(); ok {
		t.Error("a method outside the table has a privilege")
	}
}
