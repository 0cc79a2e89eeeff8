package milvusgrpc

import (
	"sort"
	"testing"
)

// otherMethods are the MilvusService methods decided to be Other (DDL and
// administration). With classes they cover every method: a proto bump that
// adds one fails TestEveryMethodClassified until someone places it.
var otherMethods = []string{
	"AddCollectionField", "AddCollectionFunction", "AddFileResource", "AddUserTags", "AllocTimestamp",
	"AlterAlias", "AlterCollection", "AlterCollectionField", "AlterCollectionFunction", "AlterDatabase",
	"AlterIndex", "CreateAlias", "CreateCollection", "CreateCredential", "CreateDatabase", "CreateIndex",
	"CreatePartition", "CreatePrivilegeGroup", "CreateReplicateStream", "CreateResourceGroup", "CreateRole",
	"CreateRowPolicy", "DeleteCredential", "DeleteUserTags", "DropAlias", "DropCollection",
	"DropCollectionFunction", "DropDatabase", "DropIndex", "DropPartition", "DropPrivilegeGroup",
	"DropResourceGroup", "DropRole", "DropRowPolicy", "DumpMessages", "LoadBalance", "LoadCollection",
	"LoadPartitions", "ManualCompaction", "OperatePrivilege", "OperatePrivilegeGroup", "OperatePrivilegeV2",
	"OperateUserRole", "RegisterLink", "ReleaseCollection", "ReleasePartitions", "RemoveFileResource",
	"RenameCollection", "RestoreRBAC", "TransferNode", "TransferReplica", "TruncateCollection",
	"UpdateCredential", "UpdateReplicateConfiguration", "UpdateResourceGroups",
}

func TestEveryMethodClassified(t *testing.T) {
	other := map[string]bool{}
	for _, m := range otherMethods {
		other[m] = true
	}
	var missing []string
	for _, name := range Methods() {
		_, inTable := classes[name]
		if inTable == other[name] { // in neither, or in both
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("methods in neither or both of classes and otherMethods (decide each one's class): %v", missing)
	}
	for name := range classes {
		if _, ok := Lookup(ServicePrefix + name); !ok {
			t.Errorf("classes names %q, which MilvusService does not have", name)
		}
	}
}

func TestClassOf(t *testing.T) {
	for path, want := range map[string]Class{
		ServicePrefix + "Search":             Read,
		ServicePrefix + "Query":              Read,
		ServicePrefix + "DescribeCollection": Read,
		ServicePrefix + "GetVersion":         Read,
		ServicePrefix + "Insert":             Write,
		ServicePrefix + "Delete":             Write,
		ServicePrefix + "CreateCollection":   Other,
		ServicePrefix + "LoadCollection":     Other,
		ServicePrefix + "Nope":               Other,
		RESTPrefix + "entities/search":       Read,
		RESTPrefix + "entities/get":          Read,
		RESTPrefix + "collections/describe":  Read,
		RESTPrefix + "entities/upsert":       Write,
		RESTPrefix + "collections/create":    Other,
		"/healthz":                           Other,
	} {
		if got := ClassOf(path); got != want {
			t.Errorf("ClassOf(%s) = %s, want %s", path, got, want)
		}
	}
}

func TestReadNoNameMethods(t *testing.T) {
	got := map[string]bool{}
	for _, p := range ReadNoNameMethods() {
		got[p] = true
	}
	for _, p := range []string{"GetVersion", "CheckHealth", "ListDatabases", "Connect"} {
		if !got[ServicePrefix+p] {
			t.Errorf("%s missing from ReadNoNameMethods", p)
		}
	}
	for _, p := range []string{"CreateRole", "Search"} {
		if got[ServicePrefix+p] {
			t.Errorf("%s in ReadNoNameMethods", p)
		}
	}
}
