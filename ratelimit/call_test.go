package ratelimit

import (
	"maps"
	"slices"
	"testing"
)

// wantMethods is Milvus's GetRequestInfo table as the edge limits it,
// written out so that a change to the map fails here.
var wantMethods = map[string]RateType{
	"Insert": DMLInsert, "Upsert": DMLUpsert, "Delete": DMLDelete,
	"Search": DQLSearch, "HybridSearch": DQLSearch, "Query": DQLQuery,
	"CreateCollection": DDLCollection, "DropCollection": DDLCollection,
	"LoadCollection": DDLCollection, "ReleaseCollection": DDLCollection,
	"CreatePartition": DDLPartition, "DropPartition": DDLPartition,
	"LoadPartitions": DDLPartition, "ReleasePartitions": DDLPartition,
	"CreateIndex": DDLIndex, "DropIndex": DDLIndex,
	"Flush": DDLFlush, "ManualCompaction": DDLCompaction,
	"CreateDatabase": DDLDB, "DropDatabase": DDLDB, "AlterDatabase": DDLDB,
}

func TestTypeOf(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(methods)), slices.Sorted(maps.Keys(wantMethods)); !slices.Equal(got, want) {
		t.Fatalf("limited methods\n got %v\nwant %v", got, want)
	}
	for api, want := range wantMethods {
		if got, ok := TypeOf(api); !ok || got != want {
			t.Errorf("TypeOf(%q) = %s, %v; want %s", api, got, ok, want)
		}
	}
	for _, api := range []string{"", "DescribeCollection", "HasCollection", "GetLoadState", "ShowCollections",
		"DescribeIndex", "AlterCollection", "insert", "Connect", "Import"} {
		if _, ok := TypeOf(api); ok {
			t.Errorf("TypeOf(%q) limits a method Milvus does not", api)
		}
	}
}

func TestCost(t *testing.T) {
	for api, typ := range wantMethods {
		var want float64
		switch typ {
		case DMLInsert, DMLUpsert, DMLDelete:
			want = 4096 // the request's bytes
		case DQLSearch:
			want = 7 // nq
		default:
			want = 1
		}
		if got := Cost(typ, 4096, 7); got != want {
			t.Errorf("%s: Cost(%s, size 4096, nq 7) = %v, want %v", api, typ, got, want)
		}
	}
	for _, nq := range []int64{0, -1, -1 << 40} {
		if got := Cost(DQLSearch, 4096, nq); got != 1 {
			t.Errorf("search with nq %d costs %v, want 1", nq, got)
		}
	}
	if got := Cost(DMLInsert, 0, 9); got != 0 {
		t.Errorf("an empty insert costs %v, want 0", got)
	}
	if got := Cost(DMLInsert, 32<<20, 0); got != 32<<20 {
		t.Errorf("a 32 MiB insert costs %v", got)
	}
}
