package milvus.authz_test

import data.milvus.authz

# req: `user` with `roles` calls `api` (privilege priv, object otype/name) naming
# collection coll in database db; body is the parsed request body.
req(user, roles, api, priv, otype, name, coll, db, body) := {
	"parsed_body": body,
	"truncated_body": false,
	"milvus": {
		"surface": "grpc", "api": api, "privilege": priv, "object_type": otype,
		"object_name": name, "db": db, "collection": coll, "partitions": [],
	},
	"identity": {"user": user, "roles": array.concat(roles, ["public"]), "method": "password", "claims": {}},
}

# Calls by alice (tenant a) in database default.
search(coll) := req("alice", ["tenant_a"], "Search", "Search", "Collection", coll, coll, "default", {"collectionName": coll})

global(api, priv, coll, body) := req("alice", ["tenant_a"], api, priv, "Global", "*", coll, "default", body)

# The data these tests assume (as in data.yaml), so they pass whatever data.yaml holds.
roles := {
	"tenant_a": {"grants": [
		{"object_type": "Collection", "db": "default", "object_name": "a_*", "privilege": "CollectionAdmin"},
		{"object_type": "Global", "db": "default", "object_name": "*", "privilege": "DatabaseAdmin"},
	]},
	"tenant_b": {"grants": [
		{"object_type": "Collection", "db": "default", "object_name": "b_*", "privilege": "CollectionAdmin"},
		{"object_type": "Global", "db": "default", "object_name": "*", "privilege": "DatabaseAdmin"},
	]},
}

d(inp) := x if {
	x := authz.decision with input as inp with data.milvus.roles as roles with data.milvus.settings as {"root_bypass": true}
}

test_own_collection_allowed if {
	d(search("a_docs")).allow
	d(req("alice", ["tenant_a"], "Insert", "Insert", "Collection", "a_docs", "a_docs", "default", {})).allow
	d(global("CreateCollection", "CreateCollection", "a_new", {"collectionName": "a_new"})).allow
	d(global("DropCollection", "DropCollection", "a_old", {"collectionName": "a_old"})).allow
	d(global("DescribeCollection", "DescribeCollection", "a_docs", {"collectionName": "a_docs"})).allow
}

test_other_tenant_collection_denied if {
	d(search("b_docs")) == {"allow": false, "reason": "tenant isolation: alice may only use collections named a_*, not `b_docs`"}
	not d(global("DropCollection", "DropCollection", "b_docs", {"collectionName": "b_docs"})).allow
	not d(global("CreateCollection", "CreateCollection", "shared", {"collectionName": "shared"})).allow
}

test_no_privilege_rpc_naming_other_tenant_denied if {
	not d(global("HasCollection", "", "b_docs", {"collectionName": "b_docs"})).allow
	d(global("HasCollection", "", "a_docs", {"collectionName": "a_docs"})).allow
	d(global("GetVersion", "", "", {})).allow
}

test_aliases_must_be_own if {
	d(global("CreateAlias", "CreateAlias", "a_docs", {"collectionName": "a_docs", "alias": "a_latest"})).allow
	not d(global("CreateAlias", "CreateAlias", "a_docs", {"collectionName": "a_docs", "alias": "b_latest"})).allow
	not d(global("CreateAlias", "CreateAlias", "a_docs", {"collectionName": "a_docs", "aliasName": "latest"})).allow
}

test_rename_stays_in_tenant_and_database if {
	# Within the tenant, RBAC decides: DatabaseAdmin does not hold RenameCollection.
	d(global("RenameCollection", "RenameCollection", "", {"oldName": "a_x", "newName": "a_y"})).reason == "PrivilegeRenameCollection: permission deny to alice in the `default` database"
	not d(global("RenameCollection", "RenameCollection", "", {"oldName": "a_x", "newName": "b_y"})).allow
	d(global("RenameCollection", "RenameCollection", "", {"oldName": "a_x", "newName": "a_y", "newDBName": "other"})).reason == "tenant isolation: collections stay in database default"
}

flush(names) := req("alice", ["tenant_a"], "Flush", "Flush", "Collection", names[0], "", "default", {"collectionNames": names})

test_flush_checks_every_name if {
	d(flush(["a_1", "a_2"])).allow
	not d(flush(["a_1", "b_2"])).allow
}

test_other_database_denied if {
	inp := req("alice", ["tenant_a"], "Search", "Search", "Collection", "a_docs", "a_docs", "prod", {})
	d(inp) == {"allow": false, "reason": "tenant isolation: tenants work in database default only, not `prod`"}
}

test_database_wide_calls_denied if {
	d(global("ShowCollections", "", "", {})).reason == "tenant isolation: ShowCollections would list other tenants' collections"
	d(global("AlterDatabase", "AlterDatabase", "", {})).reason == "tenant isolation: AlterDatabase names no collection of the tenant"
	not d(global("ListAliases", "ListAliases", "", {})).allow
}

test_user_without_tenant_denied if {
	inp := req("carol", ["reader"], "Search", "Search", "Collection", "a_docs", "a_docs", "default", {})
	d(inp) == {"allow": false, "reason": "tenant isolation: carol holds no tenant_* role"}
}

test_rbac_still_applies if {
	# tenant_c has a name prefix but no grants: RBAC denies with Milvus's text.
	inp := req("carl", ["tenant_c"], "Search", "Search", "Collection", "c_docs", "c_docs", "default", {})
	d(inp) == {"allow": false, "reason": "PrivilegeSearch: permission deny to carl in the `default` database"}
}

test_root_and_admin_are_not_tenants if {
	d(req("root", [], "Search", "Search", "Collection", "b_docs", "b_docs", "prod", {})).allow
	d(req("boss", ["admin"], "DropCollection", "DropCollection", "Global", "*", "b_docs", "default", {})).allow
}
