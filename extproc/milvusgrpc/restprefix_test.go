package milvusgrpc

import (
	"errors"
	"testing"
)

func TestDuplicateRESTName(t *testing.T) {
	for body, dup := range map[string]bool{
		`{"collectionName":"a","data":[1,2]}`:                    false,
		`{"collectionName":"a","data":[{"collectionName":"b"}]}`: false, // nested: not Milvus's key
		`{"collectionName":"a","data":[1],"collectionName":"b"}`: true,
		`{"collectionName":"a","data":[1],"COLLECTIONNAME":"b"}`: true, // encoding/json matches any case
		`{"dbName":"x","partitionNames":["p"],"dbname":"y"}`:     true,
		`{"partitionName":"p","partitionNames":["q"]}`:           false,
		`not json`:               false,
		`{"collectionName":"a",`: false,
	} {
		if err := DuplicateRESTName([]byte(body)); errors.Is(err, ErrDuplicateRESTName) != dup {
			t.Errorf("%s: %v, want duplicate=%v", body, err, dup)
		}
	}
}

// TestPrefixNames: names whose values a cut body holds whole, in any case,
// the last one given winning as in Milvus; nothing from a cut value.
func TestPrefixNames(t *testing.T) {
	for body, want := range map[string][2]string{
		`{"dbName":"d","collectionName":"docs","data":[[0.1,0.2],[0.3`: {"d", "docs"},
		`{"CollectionName":"docs","data":[[`:                           {"", "docs"},
		`{"data":[[0.1],[0.2]],"collectionName":"do`:                   {"", ""},
		`{"collectionName":`:                                           {"", ""},
		`[{"collectionName":"docs"}]`:                                  {"", ""},
	} {
		rb := prefixNames([]byte(body))
		if got := [2]string{jsonString(rb.DBName), jsonString(rb.CollectionName)}; got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}
