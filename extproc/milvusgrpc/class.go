package milvusgrpc

// Class says what a call does to a backend's data, for routing: Envoy retries
// reads on another host and sends them to a route's fallback cluster when the
// primary has no healthy endpoint; writes and other calls are retried only
// when surely not sent, and stay on the primary (docs/failover.md).
type Class string

// Call classes, as edgehdr.Class carries them.
const (
	// Read only looks: repeating it on another host (or on the fallback
	// cluster) changes nothing.
	Read Class = "read"
	// Write changes data (DML): a repeat could store it twice.
	Write Class = "write"
	// Other is DDL and administration: schema, index, load, users, resource
	// groups. Routed as writes; a repeat is not harmless either.
	Other Class = "other"
)

// classes is the one table of reads and writes; every other MilvusService
// method is Other. A method the table does not name is never a read, so an
// RPC that arrives with a proto bump is not retried until someone decides
// (TestEveryMethodClassified lists the methods this table was checked against).
var classes = map[string]Class{
	// Data reads.
	"Search": Read, "HybridSearch": Read, "Query": Read, "RunAnalyzer": Read, "CalcDistance": Read,
	// Metadata reads.
	"DescribeCollection": Read, "BatchDescribeCollection": Read, "HasCollection": Read, "ShowCollections": Read,
	"HasPartition": Read, "ShowPartitions": Read, "GetCollectionStatistics": Read, "GetPartitionStatistics": Read,
	"GetLoadState": Read, "GetLoadingProgress": Read, "GetReplicas": Read,
	"DescribeAlias": Read, "ListAliases": Read, "DescribeDatabase": Read, "ListDatabases": Read,
	"DescribeIndex": Read, "GetIndexState": Read, "GetIndexStatistics": Read, "GetIndexBuildProgress": Read,
	"DescribeSegmentIndexData": Read, "ListIndexedSegment": Read,
	"GetPersistentSegmentInfo": Read, "GetQuerySegmentInfo": Read, "GetFlushState": Read, "GetFlushAllState": Read,
	"GetCompactionState": Read, "GetCompactionStateWithPlans": Read, "GetImportState": Read, "ListImportTasks": Read,
	"DescribeResourceGroup": Read, "ListResourceGroups": Read, "ListRowPolicies": Read,
	"ListCredUsers": Read, "SelectUser": Read, "SelectRole": Read, "SelectGrant": Read, "ListPrivilegeGroups": Read,
	"GetUserTags": Read, "ListUsersWithTag": Read, "BackupRBAC": Read, "ListFileResources": Read,
	"GetReplicateConfiguration": Read, "GetReplicateInfo": Read,
	// Server reads. Connect records the client's info on the proxy, the
	// same on every try: repeating it is harmless.
	"GetVersion": Read, "CheckHealth": Read, "GetComponentStates": Read, "GetMetrics": Read, "Connect": Read, "Dummy": Read,
	// Writes (DML).
	"Insert": Write, "Upsert": Write, "Delete": Write, "Flush": Write, "FlushAll": Write, "Import": Write,
	"ReplicateMessage": Write,
}

// Class returns the method's call class.
func (m *Method) Class() Class {
	if c, ok := classes[m.Name]; ok {
		return c
	}
	return Other
}

// ClassOf returns the class of a gRPC :path or REST v2 path; unknown paths
// are Other.
func ClassOf(path string) Class {
	if m, ok := Lookup(path); ok {
		return m.Class()
	}
	if m, ok := LookupREST(path); ok {
		return m.Class()
	}
	return Other
}

// ReadNoNameMethods returns the :paths of NoNameMethods that are reads
// (they skip ext_proc, so Envoy's route for each carries its class).
func ReadNoNameMethods() []string {
	var out []string
	for _, p := range NoNameMethods() {
		if methods[p].Class() == Read {
			out = append(out, p)
		}
	}
	return out
}
