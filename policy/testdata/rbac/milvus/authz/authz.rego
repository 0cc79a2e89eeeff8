# A small Milvus-like RBAC bundle for the engine's tests and benchmarks.
package milvus.authz

decision := {"allow": true} if allow

decision := {"allow": false, "reason": reason, "status": 403} if not allow

allow if {
	input.identity.user == "root"
	data.milvus.settings.root_bypass
}

allow if input.milvus.privilege == ""

allow if "admin" in input.identity.roles

allow if {
	some role in input.identity.roles
	some g in data.milvus.roles[role].grants
	g.object_type == input.milvus.object_type
	glob.match(g.db, [], input.milvus.db)
	glob.match(g.object_name, [], input.milvus.object_name)
	grants(g.privilege, input.milvus.privilege)
}

grants(p, p)

grants("All", _)

grants(group, p) if p in groups[group]

groups := {
	"CollectionReadOnly": {"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress", "HasPartition", "ShowPartitions", "DescribeCollection", "DescribeAlias", "GetStatistics", "ListAliases"},
	"CollectionReadWrite": {"Query", "Search", "Insert", "Delete", "Upsert", "Import", "Flush", "Compaction", "Load", "Release", "CreateIndex", "DropIndex"},
}

reason := sprintf("Privilege%s: permission deny to %s in the `%s` database", [input.milvus.privilege, input.identity.user, input.milvus.db])
