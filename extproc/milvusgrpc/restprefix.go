package milvusgrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// restNameKeys are the top-level REST v2 keys that name what a call acts on
// (Milvus binds them to its request structs with encoding/json, which matches
// keys case-insensitively and keeps the last duplicate).
var restNameKeys = [...]string{"dbName", "collectionName", "partitionName", "partitionNames"}

// ErrDuplicateRESTName marks a REST body that gives a name key twice (in any
// letter case). Milvus acts on the last one, so a body could show one name in
// the prefix ext_authz decides on and act on another: ext_proc refuses such
// bodies, as it refuses gRPC bodies with a name given twice.
var ErrDuplicateRESTName = errors.New("a name key (dbName, collectionName, partitionName, partitionNames) appears more than once")

// restNameScan is what one pass over a REST body's top-level keys found.
type restNameScan struct {
	names restBody // the name keys' raw values (the last of each)
	dup   bool     // a name key came more than once
	whole bool     // the body is one whole JSON object
}

// skipValue consumes a JSON value without keeping it (json.RawMessage would
// copy the payload, the bulk of an insert).
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

// scanRESTNames reads a REST body's top-level keys in order, keeping the name
// keys' values, until the body ends or is cut: a name whose value is cut
// short is not read.
func scanRESTNames(body []byte) restNameScan {
	var sc restNameScan
	var seen [len(restNameKeys)]bool
	slots := [len(restNameKeys)]*json.RawMessage{&sc.names.DBName, &sc.names.CollectionName, &sc.names.PartitionName, &sc.names.PartitionNames}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return sc
	}
	for {
		t, err := dec.Token()
		if err != nil {
			return sc
		}
		key, ok := t.(string)
		if !ok { // the closing brace
			_, err := dec.Token()
			sc.whole = errors.Is(err, io.EOF)
			return sc
		}
		i := restNameIndex(key)
		if i < 0 {
			if err := dec.Decode(&skipValue{}); err != nil {
				return sc
			}
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return sc
		}
		sc.dup = sc.dup || seen[i]
		seen[i] = true
		*slots[i] = v
	}
}

// restNameIndex is the index in restNameKeys of the name key k stands for,
// or -1.
func restNameIndex(k string) int {
	for i, n := range restNameKeys {
		if strings.EqualFold(k, n) {
			return i
		}
	}
	return -1
}

// prefixNames reads the name keys whose values a cut REST body holds whole
// (names come first in the bodies clients send). It is safe to decide on
// them because ext_proc refuses bodies that give a name key twice
// (RESTNames).
func prefixNames(body []byte) *restBody {
	sc := scanRESTNames(body)
	return &sc.names
}

// RESTNames returns the database and collection a whole REST v2 body names,
// in one pass: an error wrapping ErrBadJSON for a body that is not one JSON
// object or gives a name of the wrong type, ErrDuplicateRESTName for one that
// gives a name key twice.
func RESTNames(body []byte) (db, collection string, err error) {
	sc := scanRESTNames(body)
	switch {
	case !sc.whole:
		return "", "", ErrBadJSON
	case sc.dup:
		return "", "", ErrDuplicateRESTName
	}
	for _, f := range []struct {
		raw json.RawMessage
		out *string
	}{{sc.names.DBName, &db}, {sc.names.CollectionName, &collection}} {
		if f.raw != nil {
			if err := json.Unmarshal(f.raw, f.out); err != nil {
				return "", "", fmt.Errorf("%w: %w", ErrBadJSON, err)
			}
		}
	}
	return db, collection, nil
}
