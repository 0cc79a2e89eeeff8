# COPY of policy/bundle/milvus/authz/groups.rego with the package renamed to milvus.rbac,
# so this example can call the default Milvus RBAC as data.milvus.rbac.decision. Do not edit.
#
package milvus.rbac

# Privilege facts of Milvus 2.6 (pkg/util/constant.go, milvus-proto common.proto).
# `groups` is the source of truth for the built-in privilege groups; grant_table.rego
# is derived from this file (see derived_grant_table below).

# Built-in privilege groups: sets of privilege API names, keyed by group name, so
# membership is one O(1) lookup: groups[group][privilege].
groups := {
	# Legacy (RBAC v1) groups: PrivilegeGroupReadOnly / ReadWrite / Admin.
	"ReadOnly": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "ShowCollections", "ListAliases", "ListDatabases",
		"DescribeCollection", "DescribeDatabase", "DescribeAlias", "GetStatistics",
	},
	"ReadWrite": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "ShowCollections", "ListAliases", "ListDatabases",
		"DescribeCollection", "DescribeDatabase", "DescribeAlias", "GetStatistics",
		"CreateIndex", "DropIndex", "CreatePartition", "DropPartition", "Load", "Release",
		"Insert", "Delete", "Upsert", "Import", "Flush", "Compaction", "LoadBalance",
		"RenameCollection", "CreateAlias", "DropAlias",
	},
	"Admin": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "ShowCollections", "ListAliases", "ListDatabases",
		"DescribeCollection", "DescribeDatabase", "DescribeAlias", "GetStatistics",
		"CreateIndex", "DropIndex", "CreatePartition", "DropPartition", "Load", "Release",
		"Insert", "Delete", "Upsert", "Import", "Flush", "Compaction", "LoadBalance",
		"RenameCollection", "CreateAlias", "DropAlias",
		"CreateCollection", "DropCollection", "CreateOwnership", "DropOwnership",
		"SelectOwnership", "ManageOwnership", "SelectUser", "UpdateUser", "BackupRBAC",
		"RestoreRBAC", "CreateResourceGroup", "UpdateResourceGroups", "DropResourceGroup",
		"DescribeResourceGroup", "ListResourceGroups", "TransferReplica", "TransferNode",
		"CreateDatabase", "DropDatabase", "AlterDatabase", "UpdateReplicateConfiguration",
	},
	# RBAC v2 built-in groups.
	"CollectionReadOnly": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "DescribeCollection", "DescribeAlias", "GetStatistics",
		"ListAliases", "GetImportProgress", "ListImport",
	},
	"CollectionReadWrite": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "DescribeCollection", "DescribeAlias", "GetStatistics",
		"ListAliases", "GetImportProgress", "ListImport",
		"Load", "Release", "Insert", "Delete", "Upsert", "Import", "Flush", "Compaction",
		"LoadBalance", "CreateIndex", "DropIndex", "CreatePartition", "DropPartition",
		"AddCollectionField",
	},
	"CollectionAdmin": {
		"Query", "Search", "IndexDetail", "GetFlushState", "GetLoadState", "GetLoadingProgress",
		"HasPartition", "ShowPartitions", "DescribeCollection", "DescribeAlias", "GetStatistics",
		"ListAliases", "GetImportProgress", "ListImport",
		"Load", "Release", "Insert", "Delete", "Upsert", "Import", "Flush", "Compaction",
		"LoadBalance", "CreateIndex", "DropIndex", "CreatePartition", "DropPartition",
		"AddCollectionField",
		"CreateAlias", "DropAlias",
	},
	"DatabaseReadOnly": {"ShowCollections", "DescribeDatabase"},
	"DatabaseReadWrite": {"ShowCollections", "DescribeDatabase", "AlterDatabase"},
	"DatabaseAdmin": {
		"ShowCollections", "DescribeDatabase", "AlterDatabase",
		"CreateCollection", "DropCollection",
	},
	"ClusterReadOnly": {
		"ListDatabases", "SelectOwnership", "SelectUser", "DescribeResourceGroup",
		"ListResourceGroups", "ListPrivilegeGroups", "GetReplicateConfiguration",
	},
	"ClusterReadWrite": {
		"ListDatabases", "SelectOwnership", "SelectUser", "DescribeResourceGroup",
		"ListResourceGroups", "ListPrivilegeGroups", "GetReplicateConfiguration",
		"FlushAll", "TransferNode", "TransferReplica", "UpdateResourceGroups",
	},
	"ClusterAdmin": {
		"ListDatabases", "SelectOwnership", "SelectUser", "DescribeResourceGroup",
		"ListResourceGroups", "ListPrivilegeGroups", "GetReplicateConfiguration",
		"FlushAll", "TransferNode", "TransferReplica", "UpdateResourceGroups",
		"BackupRBAC", "RestoreRBAC", "CreateDatabase", "DropDatabase", "CreateOwnership",
		"DropOwnership", "ManageOwnership", "CreateResourceGroup", "DropResourceGroup",
		"UpdateUser", "RenameCollection", "CreatePrivilegeGroup", "DropPrivilegeGroup",
		"OperatePrivilegeGroup", "UpdateReplicateConfiguration",
	},
}

# Related privileges (Milvus RelatedPrivileges): a grant of the key also grants these.
related := {
	"Load": {"GetLoadState", "GetLoadingProgress"},
	"Flush": {"GetFlushState"},
}

# The object type of every privilege (Milvus ObjectPrivileges), covering every
# privilege the edge can send (milvus-proto 2.6). A privilege missing here is allowed
# only to root and role admin (fail closed): add it here and regenerate grant_table.
object_types := {
	"AddCollectionField": "Collection",
	"AddFileResource": "Global",
	"AlterDatabase": "Global",
	"BackupRBAC": "Global",
	"Compaction": "Collection",
	"CreateAlias": "Global",
	"CreateCollection": "Global",
	"CreateDatabase": "Global",
	"CreateIndex": "Collection",
	"CreateOwnership": "Global",
	"CreatePartition": "Collection",
	"CreatePrivilegeGroup": "Global",
	"CreateResourceGroup": "Global",
	"Delete": "Collection",
	"DescribeAlias": "Global",
	"DescribeCollection": "Global",
	"DescribeDatabase": "Global",
	"DescribeResourceGroup": "Global",
	"DropAlias": "Global",
	"DropCollection": "Global",
	"DropDatabase": "Global",
	"DropIndex": "Collection",
	"DropOwnership": "Global",
	"DropPartition": "Collection",
	"DropPrivilegeGroup": "Global",
	"DropResourceGroup": "Global",
	"Flush": "Collection",
	"FlushAll": "Global",
	"GetFlushState": "Collection",
	"GetImportProgress": "Collection",
	"GetLoadState": "Collection",
	"GetLoadingProgress": "Collection",
	"GetReplicateConfiguration": "Global",
	"GetStatistics": "Collection",
	"HasPartition": "Collection",
	"Import": "Collection",
	"IndexDetail": "Collection",
	"Insert": "Collection",
	"ListAliases": "Global",
	"ListDatabases": "Global",
	"ListFileResources": "Global",
	"ListImport": "Collection",
	"ListPrivilegeGroups": "Global",
	"ListResourceGroups": "Global",
	"Load": "Collection",
	"LoadBalance": "Collection",
	"ManageOwnership": "Global",
	"OperatePrivilegeGroup": "Global",
	"Query": "Collection",
	"Release": "Collection",
	"RemoveFileResource": "Global",
	"RenameCollection": "Global",
	"RestoreRBAC": "Global",
	"Search": "Collection",
	"SelectOwnership": "Global",
	"SelectUser": "User",
	"ShowCollections": "Global",
	"ShowPartitions": "Collection",
	"TransferNode": "Global",
	"TransferReplica": "Global",
	"UpdateReplicateConfiguration": "Global",
	"UpdateResourceGroups": "Global",
	"UpdateUser": "User",
	"Upsert": "Collection",
}

# derived_grant_table is what grant_table must be. grant_table[type][name][privilege]
# is the set of grant object types with which a grant of `name` (a privilege, a group
# or All) grants `privilege`, a privilege of object type `type`. A single privilege
# (and its related privileges) needs a grant of its own object type; a group or All
# works whatever the grant's object type, because Milvus expands a group grant into
# one grant per member, each with the member's own object type.
# Not used to decide (comprehensions per request would be slow); a test checks
# grant_table == derived_grant_table. To regenerate grant_table.rego after editing
# this file, print the new value and paste it (then `opa fmt -w`):
#   opa eval -f raw -d policy/bundle \
#     'sprintf("grant_table := %v", [data.milvus.authz.derived_grant_table])'
derived_grant_table[type] := {name: entry |
	some name in grant_names
	entry := {p: grant_types(name, p) | some p in grants_of(name); object_types[p] == type}
	count(entry) > 0
} if {
	some type in any_object_type
}

grant_names := ({name | some name, _ in object_types} | {name | some name, _ in groups}) | {"All"}

# grants_of(name): the privileges a grant of `name` grants.
grants_of(name) := {name} | object.get(related, name, set()) if object_types[name]

grants_of(name) := groups[name]

grants_of("All") := {p | some p, _ in object_types}

# grant_types(name, p): the grant object types with which `name` grants `p`.
grant_types(name, p) := {object_types[p]} if object_types[name]

grant_types(name, _) := any_object_type if not object_types[name]

any_object_type := {"Collection", "Global", "User"}
