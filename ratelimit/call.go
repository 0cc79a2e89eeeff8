package ratelimit

// Call is what the limiter knows of one request.
type Call struct {
	Type RateType
	// Cost is in the type's unit: bytes for DML, vectors for search, 1 otherwise.
	Cost float64
	// DB is the database (never empty: "default" when the call names none).
	DB string
	// Collection is empty for database DDL; Partitions are the partitions named.
	Collection string
	Partitions []string
	Caller     Caller
}

// Caller is the authenticated identity, for caller limits.
type Caller struct {
	User  string
	Roles []string
	// APIKey is the hex SHA-256 of the API key the call used ("" otherwise).
	APIKey string
	// Groups are the JWT's groups claim ("" otherwise).
	Groups []string
}

// methods maps the limited RPCs to their rate type (Milvus GetRequestInfo).
// REST v2 paths map to the same RPC names. Every other method is not limited.
var methods = map[string]RateType{
	"Insert": DMLInsert, "Upsert": DMLUpsert, "Delete": DMLDelete,
	"Search": DQLSearch, "HybridSearch": DQLSearch, "Query": DQLQuery,
	"CreateCollection": DDLCollection, "DropCollection": DDLCollection,
	"LoadCollection": DDLCollection, "ReleaseCollection": DDLCollection,
	"CreatePartition": DDLPartition, "DropPartition": DDLPartition,
	"LoadPartitions": DDLPartition, "ReleasePartitions": DDLPartition,
	"CreateIndex": DDLIndex, "DropIndex": DDLIndex,
	"Flush":            DDLFlush,
	"ManualCompaction": DDLCompaction,
	"CreateDatabase":   DDLDB, "DropDatabase": DDLDB, "AlterDatabase": DDLDB,
}

// TypeOf returns the rate type of an RPC, and false for the RPCs Milvus does
// not limit.
func TypeOf(api string) (RateType, bool) {
	t, ok := methods[api]
	return t, ok
}

// Cost is Milvus's charge for a call of type t: the request's size in bytes
// for DML (proto.Size of the request, which is its gRPC frame's length), the
// number of query vectors for search, and 1 for the rest. nq < 1 (unknown)
// charges one vector.
func Cost(t RateType, size int64, nq int64) float64 {
	switch t.class() {
	case writing:
		return float64(size)
	}
	if t == DQLSearch {
		return float64(max(nq, 1))
	}
	return 1
}
