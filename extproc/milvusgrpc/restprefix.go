package milvusgrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// restNameKeys are the top-level REST v2 keys that name what a call acts on
// (Milvus binds them to its request structs with encoding/json, which matches
// keys case-insensitively and keeps the last duplicate).
var restNameKeys = []string{"dbName", "collectionName", "partitionName", "partitionNames"}

// ErrDuplicateRESTName marks a REST body that gives a name key twice (in any
// letter case). Milvus acts on the last one, so a body could show one name in
// the prefix ext_authz decides on and act on another: ext_proc refuses such
// bodies, as it refuses gRPC bodies with a name given twice.
var ErrDuplicateRESTName = errors.New("a name key (dbName, collectionName, partitionName, partitionNames) appears more than once")

// restNameKey returns the canonical name key k stands for, or "".
func restNameKey(k string) string {
	for _, n := range restNameKeys {
		if strings.EqualFold(k, n) {
			return n
		}
	}
	return ""
}

// walkTopLevel calls visit with each top-level key of a JSON object and its
// raw value, in order, until the body ends, is cut, or visit returns false.
// It reports whether it read the whole object.
func walkTopLevel(body []byte, visit func(key string, value json.RawMessage) bool) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		key, ok := t.(string)
		if !ok {
			return t == json.Delim('}')
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if !visit(key, v) {
			return false
		}
	}
}

// prefixNames reads the name keys whose values a cut REST body holds whole
// (names come first in the bodies clients send; a value cut short is not
// read). It is safe to decide on them because ext_proc refuses bodies that
// give a name key twice (DuplicateRESTName).
func prefixNames(body []byte) *restBody {
	rb := &restBody{}
	walkTopLevel(body, func(k string, v json.RawMessage) bool {
		switch restNameKey(k) {
		case "dbName":
			rb.DBName = v
		case "collectionName":
			rb.CollectionName = v
		case "partitionName":
			rb.PartitionName = v
		case "partitionNames":
			rb.PartitionNames = v
		}
		return true
	})
	return rb
}

// DuplicateRESTName reports a whole REST body that gives a name key twice
// (ErrDuplicateRESTName); a body that is not a JSON object is not its
// business.
func DuplicateRESTName(body []byte) error {
	var seen [4]bool
	dup := false
	walkTopLevel(body, func(k string, _ json.RawMessage) bool {
		for i, n := range restNameKeys {
			if strings.EqualFold(k, n) {
				dup = dup || seen[i]
				seen[i] = true
			}
		}
		return !dup
	})
	if dup {
		return ErrDuplicateRESTName
	}
	return nil
}
