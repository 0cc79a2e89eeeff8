package milvusgrpc

import (
	"errors"
	"testing"
)

// TestDuplicateRESTName: RESTNames refuses a body that gives a name key twice.
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
		if _, _, err := RESTNames([]byte(body)); errors.Is(err, ErrDuplicateRESTName) != dup {
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

// TestRESTNames: one pass gives the names of a whole body; a body that is
// not one whole JSON object, or a name that is not a string, is bad JSON.
func TestRESTNames(t *testing.T) {
	db, coll, err := RESTNames([]byte(`{"data":[[0.1,0.2]],"DBName":"d","collectionName":"docs","collectionname2":1}`))
	if err != nil || db != "d" || coll != "docs" {
		t.Fatalf("names %q %q %v", db, coll, err)
	}
	for _, body := range []string{`{"collectionName":"a"}x`, `{"collectionName":"a"`, `[]`, `{"collectionName":5}`} {
		if _, _, err := RESTNames([]byte(body)); !errors.Is(err, ErrBadJSON) {
			t.Errorf("%s: %v, want ErrBadJSON", body, err)
		}
	}
}
