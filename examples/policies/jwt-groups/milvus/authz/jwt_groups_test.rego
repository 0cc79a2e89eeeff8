package milvus.authz_test

import data.milvus.authz

# `user` authenticated by `method` with token claims asks for privilege priv on
# object otype/name in database db.
call(method, user, claims, priv, otype, name, db) := {
	"parsed_body": {},
	"truncated_body": false,
	"milvus": {
		"surface": "grpc", "api": priv, "privilege": priv, "object_type": otype,
		"object_name": name, "db": db, "collection": name, "partitions": [],
	},
	"identity": {"user": user, "roles": ["public"], "method": method, "claims": claims},
}

sso(groups, priv, otype, name) := call("jwt", "sso-user", {"sub": "sso-user", "groups": groups}, priv, otype, name, "default")

# The data these tests assume (as in data.yaml), so they pass whatever data.yaml holds.
roles := {
	"ml_reader": {"grants": [{"object_type": "Collection", "db": "*", "object_name": "*", "privilege": "CollectionReadOnly"}]},
	"ml_writer": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "*", "privilege": "CollectionReadWrite"}]},
}

group_roles := {"ml-admins": ["admin"], "ml-readers": ["ml_reader"], "ml-writers": ["ml_reader", "ml_writer"]}

d(inp) := x if {
	x := authz.decision with input as inp with data.milvus.roles as roles with data.milvus.settings as {"root_bypass": true} with data.milvus.jwt_group_roles as group_roles
}

test_readers_may_read_everywhere if {
	d(sso(["ml-readers"], "Search", "Collection", "docs")).allow
	d(call("jwt", "sso-user", {"groups": ["ml-readers"]}, "Query", "Collection", "x", "prod")).allow
}

test_readers_may_not_write if {
	d(sso(["ml-readers"], "Insert", "Collection", "docs")) == {"allow": false, "reason": "PrivilegeInsert: permission deny to sso-user in the `default` database"}
}

test_writers_may_write_in_default if {
	d(sso(["ml-writers"], "Insert", "Collection", "docs")).allow
	not d(call("jwt", "sso-user", {"groups": ["ml-writers"]}, "Insert", "Collection", "docs", "prod")).allow
}

test_admins_may_do_everything if {
	d(sso(["ml-admins"], "DropCollection", "Global", "*")).allow
	d(sso(["other", "ml-admins"], "CreateDatabase", "Global", "*")).allow
}

test_unknown_or_missing_groups_get_nothing if {
	not d(sso(["marketing"], "Search", "Collection", "docs")).allow
	not d(call("jwt", "sso-user", {"sub": "sso-user"}, "Search", "Collection", "docs", "default")).allow
	not d(call("jwt", "sso-user", {"groups": {"ml-admins": true}}, "Search", "Collection", "docs", "default")).allow
}

test_single_group_string if {
	d(sso("ml-readers", "Search", "Collection", "docs")).allow
}

test_roles_claim_roles_are_kept if {
	inp := json.patch(sso([], "Search", "Collection", "docs"), [{"op": "replace", "path": "/identity/roles", "value": ["ml_reader", "public"]}])
	d(inp).allow
}

test_groups_ignored_for_other_methods if {
	# Claims of a password or API-key identity are not read (the edge sends {} anyway).
	not d(call("password", "mallory", {"groups": ["ml-admins"]}, "DropCollection", "Global", "*", "default")).allow
	not d(call("api_key", "bot", {"groups": ["ml-admins"]}, "DropCollection", "Global", "*", "default")).allow
}

test_public_builtins_still_apply if {
	d(sso([], "DescribeCollection", "Global", "*")).allow
}
