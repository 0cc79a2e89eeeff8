// Package validate rejects malformed Milvus requests the way the Milvus 2.6
// Proxy does, before any backend work: same checks, same order, and the same
// merr code, legacy error_code and reason text, so a client cannot tell the
// edge's rejection from Milvus's own.
//
// Many Proxy checks return plain Go errors rather than merr errors; Milvus
// reports those with code 65535 (CodeUnexpected) and the bare message, and
// this package does the same. Filter expressions are not parsed: they are
// left to the backend, and only the empty expression is judged.
//
// The package is pure: no I/O, no state beyond constant tables. A Schema is
// built once per collection version by the schema cache and shared.
package validate
