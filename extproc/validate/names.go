package validate

import (
	"fmt"
	"strings"
)

// maxNameLength is proxy.maxNameLength (default 255).
const maxNameLength = 255

// fieldNameKeywords is pkg/common FieldNameKeywords: names the expression
// grammar reserves.
var fieldNameKeywords = map[string]struct{}{
	"$meta": {}, "like": {}, "exists": {}, "EXISTS": {}, "and": {}, "or": {}, "not": {}, "in": {},
	"json_contains": {}, "JSON_CONTAINS": {}, "json_contains_all": {}, "JSON_CONTAINS_ALL": {},
	"json_contains_any": {}, "JSON_CONTAINS_ANY": {}, "array_contains": {}, "ARRAY_CONTAINS": {},
	"array_contains_all": {}, "ARRAY_CONTAINS_ALL": {}, "array_contains_any": {}, "ARRAY_CONTAINS_ANY": {},
	"array_length": {}, "ARRAY_LENGTH": {}, "true": {}, "True": {}, "TRUE": {}, "false": {}, "False": {}, "FALSE": {},
}

func isAlpha(c byte) bool  { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') }
func isNumber(c byte) bool { return c >= '0' && c <= '9' }

// identTail reports whether s[1:] holds only letters, digits and '_'.
func identTail(s string) bool {
	for i := 1; i < len(s); i++ {
		if c := s[i]; c != '_' && !isAlpha(c) && !isNumber(c) {
			return false
		}
	}
	return true
}

// Names checks a database and a collection (or alias) name as the Proxy
// does: validateCollectionName (1100) and ValidateDatabaseName (802). An
// empty db means the default database and is not checked. Milvus applies
// the collection rule on Insert, Upsert, Delete, Query and the DDL calls;
// Search only looks the name up (unknown names give CollectionNotFound).
func Names(db, collection string) *Error {
	if db != "" {
		if err := databaseName(db); err != nil {
			return err
		}
	}
	return collectionName(collection, "name")
}

// ValidNames reports names Milvus would accept (Names without the error):
// lookups skip the others rather than ask a backend about them.
func ValidNames(db, collection string) bool { return Names(db, collection) == nil }

// ValidDatabase reports a database name Milvus would accept.
func ValidDatabase(db string) bool { return db == "" || databaseName(db) == nil }

// collectionName is validateCollectionNameOrAlias; entityType is "name" or
// "alias".
func collectionName(entity, entityType string) *Error {
	entity = strings.TrimSpace(entity)
	if entity == "" {
		return paramInvalidMsg("collection %s should not be empty", entityType)
	}
	// The Proxy's prefix ends in ". " and its formats add a space: the
	// double space is in Milvus's messages too.
	const invalid = "Invalid collection %[1]s: %[2]s.  "
	if len(entity) > maxNameLength {
		return paramInvalidMsg(invalid+"the length of a collection %[1]s must be less than %[3]d characters", entityType, entity, maxNameLength)
	}
	if c := entity[0]; c != '_' && !isAlpha(c) {
		return paramInvalidMsg(invalid+"the first character of a collection %[1]s must be an underscore or letter", entityType, entity)
	}
	if !identTail(entity) {
		return paramInvalidMsg(invalid+"collection %[1]s can only contain numbers, letters and underscores", entityType, entity)
	}
	return nil
}

// databaseName is ValidateDatabaseName (no trimming, code 802).
func databaseName(db string) *Error {
	if db == "" {
		return dbNameInvalid(db, "database name couldn't be empty")
	}
	if len(db) > maxNameLength {
		return dbNameInvalid(db, fmt.Sprintf("the length of a database name must be less than %d characters", maxNameLength))
	}
	if c := db[0]; c != '_' && !isAlpha(c) {
		return dbNameInvalid(db, "the first character of a database name must be an underscore or letter")
	}
	if !identTail(db) {
		return dbNameInvalid(db, "database name can only contain numbers, letters and underscores")
	}
	return nil
}

// partitionTag is validatePartitionTag. The Proxy returns these as plain
// errors (65535). strict is used by Insert, Upsert and Delete; Search and
// Query only check emptiness and length.
func partitionTag(tag string, strict bool) *Error {
	tag = strings.TrimSpace(tag)
	invalid := "Invalid partition name: " + tag + ". "
	if tag == "" {
		return unexpected("%sPartition name should not be empty.", invalid)
	}
	if len(tag) > maxNameLength {
		return unexpected("%sThe length of a partition name must be less than %d characters.", invalid, maxNameLength)
	}
	if !strict {
		return nil
	}
	if c := tag[0]; c != '_' && !isAlpha(c) && !isNumber(c) {
		return unexpected("%sThe first character of a partition name must be an underscore or letter.", invalid)
	}
	for i := 1; i < len(tag); i++ {
		if c := tag[i]; c != '_' && c != '-' && !isAlpha(c) && !isNumber(c) {
			return unexpected("%sPartition name can only contain numbers, letters and underscores.", invalid)
		}
	}
	return nil
}

// fieldName is validateFieldName (code 1701).
func fieldName(name string) *Error {
	name = strings.TrimSpace(name)
	if name == "" {
		return fieldNameInvalid(name, "field name should not be empty")
	}
	invalid := "Invalid field name: " + name + ". "
	if len(name) > maxNameLength {
		return fieldNameInvalid(name, fmt.Sprintf("%sThe length of a field name must be less than %d characters.", invalid, maxNameLength))
	}
	if c := name[0]; c != '_' && !isAlpha(c) {
		return fieldNameInvalid(name, invalid+"The first character of a field name must be an underscore or letter.")
	}
	if !identTail(name) {
		return fieldNameInvalid(name, invalid+"Field name can only contain numbers, letters, and underscores.")
	}
	if _, ok := fieldNameKeywords[name]; ok {
		return fieldNameInvalid(name, invalid+name+" is keyword in milvus.")
	}
	return nil
}
