# Tests of the default Milvus RBAC policy. Run: opa test -v policy/bundle
# (or milvus-edge policy test policy/bundle). They set the data they need with `with`,
# so they pass whatever data.yaml the bundle ships with.
package milvus.authz_test

import data.milvus.authz

# ---------------------------------------------------------------- helpers

# req is the input for user reader (roles reader and public, password) asking for
# privilege priv on object otype/name in database db, as the edge builds it.
req(priv, otype, name, db) := {
	"attributes": {"request": {"http": {
		"method": "POST",
		"path": concat("", ["/milvus.proto.milvus.MilvusService/", priv]),
		"headers": {"authorization": "[redacted]", "dbname": db},
	}}},
	"parsed_path": ["milvus.proto.milvus.MilvusService", priv],
	"parsed_query": {},
	"parsed_body": {},
	"truncated_body": false,
	"milvus": {
		"surface": "grpc", "api": priv, "privilege": priv, "object_type": otype,
		"object_name": name, "db": db, "collection": "", "partitions": [],
	},
	"identity": {"user": "reader", "roles": ["reader", "public"], "method": "password", "claims": {}},
}

# A Collection privilege on collection name, a Global one, a User one, in db default.
coll(priv, name) := req(priv, "Collection", name, "default")

glob_(priv) := req(priv, "Global", "*", "default")

user_(priv, name) := req(priv, "User", name, "default")

# The same input as someone else.
who(inp, user, roles, method) := json.patch(inp, [
	{"op": "replace", "path": "/identity/user", "value": user},
	{"op": "replace", "path": "/identity/roles", "value": array.concat(roles, ["public"])},
	{"op": "replace", "path": "/identity/method", "value": method},
])

# Role reader with a single grant.
grant(object_type, db, name, privilege) := {"reader": {"grants": [{
	"object_type": object_type, "db": db, "object_name": name, "privilege": privilege,
}]}}

decide(inp, roles) := d if {
	d := authz.decision with input as inp with data.milvus.roles as roles
}

allowed(inp, roles) if decide(inp, roles).allow == true

denied(inp, roles) if decide(inp, roles).allow == false

deny_text(priv, user, db) := sprintf("Privilege%s: permission deny to %s in the `%s` database", [priv, user, db])

# A grant of a group on the whole cluster, as Milvus v2 stores it (Global, *.*).
everywhere(group) := grant("Global", "*", "*", group)

# The request for privilege p on its own object type (names: docs, *, bob).
on_own_type(p) := coll(p, "docs") if authz.object_types[p] == "Collection"

on_own_type(p) := glob_(p) if authz.object_types[p] == "Global"

on_own_type(p) := user_(p, "bob") if authz.object_types[p] == "User"

public_builtin := {"DescribeCollection", "ListAliases", "IndexDetail"}

# ---------------------------------------------------------------- the decision

test_allow_has_empty_reason if {
	decide(coll("Search", "docs"), grant("Collection", "default", "docs", "Search")) == {"allow": true, "reason": ""}
}

test_deny_reason_is_milvus_text if {
	d := decide(coll("Insert", "docs"), grant("Collection", "default", "docs", "CollectionReadOnly"))
	d == {"allow": false, "reason": "PrivilegeInsert: permission deny to reader in the `default` database"}
}

test_deny_reason_names_user_and_db if {
	inp := who(req("DropCollection", "Global", "*", "prod"), "sso-reader", [], "jwt")
	decide(inp, {}).reason == "PrivilegeDropCollection: permission deny to sso-reader in the `prod` database"
}

test_incomplete_input_fails_closed if {
	d := authz.decision with input as {} with data.milvus.roles as {}
	d == {"allow": false, "reason": "permission denied: incomplete authorization input"}
}

test_no_roles_at_all_denied if {
	denied(coll("Search", "docs"), {})
	decide(coll("Search", "docs"), {}).reason == deny_text("Search", "reader", "default")
}

# ---------------------------------------------------------------- special cases

test_no_privilege_rpc_allowed if {
	inp := json.patch(req("", "", "", "default"), [{"op": "replace", "path": "/milvus/api", "value": "HasCollection"}])
	allowed(who(inp, "nobody", [], "password"), {})
}

test_root_bypass_on if {
	allowed(who(glob_("DropDatabase"), "root", [], "password"), {}) with data.milvus.settings.root_bypass as true
	allowed(who(coll("Insert", "anything"), "root", [], "api_key"), {}) with data.milvus.settings.root_bypass as true
}

test_root_bypass_when_setting_absent if {
	allowed(who(glob_("DropDatabase"), "root", [], "password"), {}) with data.milvus.settings as {}
}

test_root_bypass_off if {
	inp := who(glob_("DropDatabase"), "root", [], "password")
	d := decide(inp, {}) with data.milvus.settings.root_bypass as false
	d == {"allow": false, "reason": deny_text("DropDatabase", "root", "default")}
}

test_root_bypass_off_root_uses_roles if {
	inp := who(glob_("DropDatabase"), "root", ["admin"], "password")
	allowed(inp, {}) with data.milvus.settings.root_bypass as false
}

test_jwt_named_root_is_not_root if {
	denied(who(glob_("DropDatabase"), "root", [], "jwt"), {}) with data.milvus.settings.root_bypass as true
}

test_admin_role_allows_everything if {
	every p, _ in authz.object_types {
		allowed(who(on_own_type(p), "boss", ["admin"], "password"), {})
	}
	allowed(who(req("DropCollection", "Global", "*", "any_db"), "boss", ["admin"], "api_key"), {})
}

test_public_builtin_grants if {
	nobody := {"reader": {"grants": []}}
	allowed(glob_("DescribeCollection"), nobody)
	allowed(glob_("ListAliases"), nobody)
	allowed(coll("IndexDetail", "any_collection"), nobody)
	allowed(req("DescribeCollection", "Global", "*", "other_db"), nobody)
}

test_public_builtin_grants_nothing_else if {
	nobody := {"reader": {"grants": []}}
	denied(glob_("DescribeAlias"), nobody)
	denied(coll("Search", "docs"), nobody)
	denied(glob_("ShowCollections"), nobody)
	denied(coll("GetStatistics", "docs"), nobody)
}

test_public_builtins_need_public_role if {
	inp := json.patch(glob_("DescribeCollection"), [{"op": "replace", "path": "/identity/roles", "value": ["reader"]}])
	denied(inp, {})
}

test_public_role_grants_from_data if {
	roles := {"public": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "docs", "privilege": "Query"}]}}
	allowed(who(coll("Query", "docs"), "anyone", [], "password"), roles)
	denied(who(coll("Query", "other"), "anyone", [], "password"), roles)
}

test_user_object_naming_caller if {
	allowed(user_("UpdateUser", "reader"), {})
	allowed(user_("SelectUser", "reader"), {})
	denied(user_("UpdateUser", "bob"), {})
}

test_select_grant_of_own_role if {
	inp := json.patch(glob_("SelectOwnership"), [
		{"op": "replace", "path": "/milvus/api", "value": "SelectGrant"},
		{"op": "replace", "path": "/parsed_body", "value": {"entity": {"role": {"name": "reader"}}}},
	])
	allowed(inp, {})
	rest := json.patch(inp, [{"op": "replace", "path": "/parsed_body", "value": {"roleName": "reader"}}])
	allowed(rest, {})
	other := json.patch(inp, [{"op": "replace", "path": "/parsed_body", "value": {"entity": {"role": {"name": "admin"}}}}])
	denied(other, {})
	select_role := json.patch(other, [{"op": "replace", "path": "/milvus/api", "value": "SelectRole"}])
	denied(select_role, {})
}

# ---------------------------------------------------------------- single privileges

test_exact_privilege if {
	roles := grant("Collection", "default", "docs", "Search")
	allowed(coll("Search", "docs"), roles)
	denied(coll("Query", "docs"), roles)
	denied(coll("Insert", "docs"), roles)
}

test_global_privilege if {
	roles := grant("Global", "default", "*", "CreateCollection")
	allowed(glob_("CreateCollection"), roles)
	denied(glob_("DropCollection"), roles)
	denied(req("CreateCollection", "Global", "*", "other"), roles)
}

test_user_privilege if {
	roles := grant("User", "*", "*", "SelectUser")
	allowed(user_("SelectUser", "bob"), roles)
	denied(user_("UpdateUser", "bob"), roles)
	only_alice := grant("User", "*", "alice", "UpdateUser")
	allowed(user_("UpdateUser", "alice"), only_alice)
	denied(user_("UpdateUser", "bob"), only_alice)
}

test_wrong_object_type if {
	# A Collection privilege granted on a Global object, and the other way round.
	denied(coll("Search", "docs"), grant("Global", "default", "*", "Search"))
	denied(coll("Search", "docs"), grant("User", "default", "docs", "Search"))
	denied(glob_("CreateCollection"), grant("Collection", "default", "docs", "CreateCollection"))
	denied(glob_("CreateCollection"), grant("Collection", "default", "*", "CreateCollection"))
}

test_request_on_unusual_object_type if {
	# DropRowPolicy asks for DropOwnership on a Collection, which no Global grant covers.
	roles := {"reader": {"grants": [
		{"object_type": "Global", "db": "*", "object_name": "*", "privilege": "DropOwnership"},
		{"object_type": "Global", "db": "*", "object_name": "*", "privilege": "ClusterAdmin"},
	]}}
	denied(coll("DropOwnership", "docs"), roles)
	allowed(glob_("DropOwnership"), roles)
}

test_unknown_privilege_denied if {
	roles := {"reader": {"grants": [
		{"object_type": "Collection", "db": "*", "object_name": "*", "privilege": "FutureThing"},
		{"object_type": "Global", "db": "*", "object_name": "*", "privilege": "All"},
	]}}
	denied(coll("FutureThing", "docs"), roles)
	allowed(who(coll("FutureThing", "docs"), "boss", ["admin"], "password"), {})
}

test_unknown_grant_privilege_grants_nothing if {
	roles := grant("Global", "*", "*", "Everything")
	denied(coll("Search", "docs"), roles)
	denied(glob_("ShowCollections"), roles)
}

# ---------------------------------------------------------------- related privileges

test_related_load if {
	roles := grant("Collection", "default", "docs", "Load")
	allowed(coll("Load", "docs"), roles)
	allowed(coll("GetLoadState", "docs"), roles)
	allowed(coll("GetLoadingProgress", "docs"), roles)
	denied(coll("Release", "docs"), roles)
	denied(coll("GetLoadState", "other"), roles)
	denied(coll("GetFlushState", "docs"), roles)
}

test_related_flush if {
	roles := grant("Collection", "default", "docs", "Flush")
	allowed(coll("Flush", "docs"), roles)
	allowed(coll("GetFlushState", "docs"), roles)
	denied(coll("GetLoadState", "docs"), roles)
	denied(coll("GetFlushState", "other"), roles)
}

test_related_is_one_way if {
	denied(coll("Load", "docs"), grant("Collection", "default", "docs", "GetLoadState"))
	denied(coll("Flush", "docs"), grant("Collection", "default", "docs", "GetFlushState"))
}

test_related_needs_object_type if {
	denied(coll("GetLoadState", "docs"), grant("Global", "default", "*", "Load"))
}

# ---------------------------------------------------------------- All

test_all_everywhere if {
	roles := grant("Global", "*", "*", "All")
	every p, _ in authz.object_types {
		allowed(on_own_type(p), roles)
	}
	allowed(req("Search", "Collection", "x", "prod"), roles)
}

test_all_scoped_to_db if {
	roles := grant("Global", "default", "*", "All")
	allowed(coll("Insert", "docs"), roles)
	allowed(glob_("CreateCollection"), roles)
	denied(req("Insert", "Collection", "docs", "prod"), roles)
}

test_all_scoped_to_collection if {
	roles := grant("Collection", "default", "docs", "All")
	allowed(coll("Insert", "docs"), roles)
	denied(coll("Insert", "other"), roles)
	allowed(glob_("DropAlias"), roles) # Global privileges act on default.*
}

# ---------------------------------------------------------------- groups
# Each built-in group: one member allowed, one non-member denied.

test_group_readonly if {
	roles := grant("Collection", "default", "docs", "ReadOnly")
	allowed(coll("Query", "docs"), roles)
	allowed(glob_("ShowCollections"), roles)
	denied(coll("Insert", "docs"), roles)
	denied(coll("Query", "other"), roles)
}

test_group_readwrite if {
	roles := grant("Collection", "default", "docs", "ReadWrite")
	allowed(coll("Insert", "docs"), roles)
	allowed(glob_("CreateAlias"), roles)
	denied(glob_("CreateCollection"), roles)
	denied(coll("AddCollectionField", "docs"), roles)
}

test_group_admin if {
	roles := everywhere("Admin")
	allowed(glob_("CreateCollection"), roles)
	allowed(coll("Delete", "anything"), roles)
	allowed(user_("UpdateUser", "bob"), roles)
	denied(glob_("CreatePrivilegeGroup"), roles)
	denied(glob_("FlushAll"), roles)
}

test_group_collection_read_only if {
	roles := grant("Collection", "default", "docs", "CollectionReadOnly")
	allowed(coll("Search", "docs"), roles)
	allowed(coll("Query", "docs"), roles)
	denied(coll("Insert", "docs"), roles)
	denied(coll("Search", "other"), roles)
}

test_group_collection_read_write if {
	roles := grant("Collection", "default", "docs", "CollectionReadWrite")
	allowed(coll("Insert", "docs"), roles)
	allowed(coll("AddCollectionField", "docs"), roles)
	denied(glob_("CreateAlias"), roles)
}

test_group_collection_admin if {
	roles := grant("Collection", "default", "docs", "CollectionAdmin")
	allowed(glob_("CreateAlias"), roles)
	allowed(coll("DropIndex", "docs"), roles)
	denied(glob_("DropCollection"), roles)
}

test_group_database_read_only if {
	roles := grant("Global", "default", "*", "DatabaseReadOnly")
	allowed(glob_("ShowCollections"), roles)
	allowed(glob_("DescribeDatabase"), roles)
	denied(glob_("AlterDatabase"), roles)
	denied(req("ShowCollections", "Global", "*", "prod"), roles)
}

test_group_database_read_write if {
	roles := grant("Global", "default", "*", "DatabaseReadWrite")
	allowed(glob_("AlterDatabase"), roles)
	denied(glob_("CreateCollection"), roles)
}

test_group_database_admin if {
	roles := grant("Global", "default", "*", "DatabaseAdmin")
	allowed(glob_("CreateCollection"), roles)
	allowed(glob_("DropCollection"), roles)
	denied(glob_("CreateDatabase"), roles)
	denied(coll("Search", "docs"), roles)
}

test_group_cluster_read_only if {
	roles := everywhere("ClusterReadOnly")
	allowed(glob_("ListDatabases"), roles)
	allowed(user_("SelectUser", "bob"), roles)
	denied(glob_("FlushAll"), roles)
	denied(user_("UpdateUser", "bob"), roles)
}

test_group_cluster_read_write if {
	roles := everywhere("ClusterReadWrite")
	allowed(glob_("FlushAll"), roles)
	allowed(glob_("TransferReplica"), roles)
	denied(glob_("CreateDatabase"), roles)
}

test_group_cluster_admin if {
	roles := everywhere("ClusterAdmin")
	allowed(glob_("CreateDatabase"), roles)
	allowed(user_("UpdateUser", "bob"), roles)
	allowed(glob_("OperatePrivilegeGroup"), roles)
	denied(coll("Search", "docs"), roles)
	denied(glob_("CreateCollection"), roles)
}

# Exhaustive: every member of every group is allowed, every other known privilege
# denied (bar the public built-ins), with the group granted on the whole cluster.
test_every_group_member_allowed if {
	every group, members in authz.groups {
		every p in members {
			allowed(on_own_type(p), everywhere(group))
		}
	}
}

test_every_non_member_denied if {
	every group, members in authz.groups {
		every p, _ in authz.object_types {
			expected := p in (members | public_builtin)
			decide(on_own_type(p), everywhere(group)).allow == expected
		}
	}
}

test_group_grant_object_type_does_not_matter if {
	# Milvus expands a group grant per member with the member's own object type.
	every t in {"Collection", "Global", "User"} {
		allowed(coll("Search", "docs"), grant(t, "default", "docs", "CollectionReadOnly"))
		allowed(glob_("DescribeAlias"), grant(t, "default", "docs", "CollectionReadOnly"))
	}
}

test_group_global_member_ignores_object_name if {
	roles := grant("Collection", "default", "docs", "CollectionReadOnly")
	allowed(glob_("DescribeAlias"), roles)
	denied(req("DescribeAlias", "Global", "*", "prod"), roles)
}

test_groups_are_complete if {
	# The built-in groups nest as Milvus defines them.
	authz.groups.CollectionReadOnly == authz.groups.CollectionReadWrite & authz.groups.CollectionReadOnly
	authz.groups.CollectionReadWrite == authz.groups.CollectionAdmin & authz.groups.CollectionReadWrite
	authz.groups.DatabaseReadOnly == authz.groups.DatabaseReadWrite & authz.groups.DatabaseReadOnly
	authz.groups.DatabaseReadWrite == authz.groups.DatabaseAdmin & authz.groups.DatabaseReadWrite
	authz.groups.ClusterReadOnly == authz.groups.ClusterReadWrite & authz.groups.ClusterReadOnly
	authz.groups.ClusterReadWrite == authz.groups.ClusterAdmin & authz.groups.ClusterReadWrite
	authz.groups.ReadOnly == authz.groups.ReadWrite & authz.groups.ReadOnly
	authz.groups.ReadWrite == authz.groups.Admin & authz.groups.ReadWrite
	count(authz.groups) == 12
}

# ---------------------------------------------------------------- db and names

test_wrong_db if {
	roles := grant("Collection", "default", "docs", "CollectionReadOnly")
	inp := req("Search", "Collection", "docs", "prod")
	decide(inp, roles) == {"allow": false, "reason": deny_text("Search", "reader", "prod")}
}

test_wrong_collection if {
	roles := grant("Collection", "default", "docs", "CollectionReadOnly")
	decide(coll("Search", "other"), roles) == {"allow": false, "reason": deny_text("Search", "reader", "default")}
}

test_glob_db if {
	roles := grant("Collection", "prod_*", "*", "CollectionReadOnly")
	allowed(req("Search", "Collection", "docs", "prod_eu"), roles)
	allowed(req("Search", "Collection", "docs", "prod_"), roles)
	denied(req("Search", "Collection", "docs", "staging"), roles)
	denied(coll("Search", "docs"), roles)
}

test_glob_object_name if {
	roles := grant("Collection", "default", "docs_*", "CollectionReadOnly")
	allowed(coll("Search", "docs_2024"), roles)
	denied(coll("Search", "docs"), roles)
	denied(coll("Search", "other_docs_1"), roles)
	any_char := grant("Collection", "default", "doc?", "Search")
	allowed(coll("Search", "docs"), any_char)
	denied(coll("Search", "doc"), any_char)
}

test_glob_star_matches_everything if {
	roles := grant("Collection", "*", "*", "Search")
	allowed(req("Search", "Collection", "a.b", "x.y"), roles)
	allowed(req("Search", "Collection", "", "default"), roles)
}

test_exact_names_are_not_prefixes if {
	roles := grant("Collection", "default", "docs", "Search")
	denied(coll("Search", "docs2"), roles)
	denied(req("Search", "Collection", "docs", "default2"), roles)
}

# ---------------------------------------------------------------- several roles

test_any_held_role_may_grant if {
	roles := {
		"a": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "x", "privilege": "Search"}]},
		"b": {"grants": [
			{"object_type": "Collection", "db": "default", "object_name": "y", "privilege": "Query"},
			{"object_type": "Collection", "db": "default", "object_name": "docs", "privilege": "Insert"},
		]},
	}
	inp := who(coll("Insert", "docs"), "multi", ["a", "b"], "api_key")
	allowed(inp, roles)
	denied(who(coll("Insert", "docs"), "single", ["a"], "api_key"), roles)
}

test_roles_not_held_do_not_count if {
	roles := {"writer": {"grants": [{"object_type": "Collection", "db": "*", "object_name": "*", "privilege": "All"}]}}
	denied(coll("Insert", "docs"), roles)
}

test_role_without_grants if {
	denied(coll("Search", "docs"), {"reader": {}})
}

# ---------------------------------------------------------------- the derived table

test_grant_table_matches_groups if {
	authz.grant_table == authz.derived_grant_table
}

test_every_group_member_has_object_type if {
	every _, members in authz.groups {
		every p in members {
			authz.object_types[p] in {"Collection", "Global", "User"}
		}
	}
}

# ---------------------------------------------------------------- several names (Flush)

flush(names) := json.patch(coll("Flush", names[0]), [{"op": "add", "path": "/milvus/object_names", "value": names}])

test_flush_every_name_granted if {
	roles := {"reader": {"grants": [
		{"object_type": "Collection", "db": "default", "object_name": "docs", "privilege": "Flush"},
		{"object_type": "Collection", "db": "default", "object_name": "logs", "privilege": "Flush"},
	]}}
	allowed(flush(["docs", "logs"]), roles)
}

test_flush_one_name_not_granted if {
	d := decide(flush(["docs", "secret"]), grant("Collection", "default", "docs", "Flush"))
	d.allow == false
	d.reason == deny_text("Flush", "reader", "default")
}

test_flush_first_name_not_granted if {
	denied(flush(["secret", "docs"]), grant("Collection", "default", "docs", "Flush"))
}
