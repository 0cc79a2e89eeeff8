package milvus.authz_test

import data.milvus.authz

# `user` authenticated by `method` with `roles` asks for privilege priv on
# collection docs (a Global privilege on `*` when global is true).
call(method, user, roles, api, priv, global) := {
	"parsed_body": {"collectionName": "docs"},
	"truncated_body": false,
	"milvus": {
		"surface": "grpc", "api": api, "privilege": priv,
		"object_type": object_type(priv, global), "object_name": object_name(global),
		"db": "default", "collection": "docs", "partitions": [],
	},
	"identity": {"user": user, "roles": array.concat(roles, ["public"]), "method": method, "claims": {}},
}

object_type(priv, _) := "" if priv == ""

object_type(priv, global) := "Global" if {
	priv != ""
	global
}

object_type(priv, global) := "Collection" if {
	priv != ""
	not global
}

object_name(true) := "*"

object_name(false) := "docs"

key(api, priv) := call("api_key", "ci-bot", ["writer"], api, priv, false)

# The data these tests assume (as in data.yaml), so they pass whatever data.yaml holds.
roles := {"writer": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "*", "privilege": "CollectionReadWrite"}]}}

d(inp) := x if {
	x := authz.decision with input as inp with data.milvus.roles as roles with data.milvus.settings as {"root_bypass": true}
}

test_key_may_read if {
	d(key("Search", "Search")).allow
	d(key("Query", "Query")).allow
	d(key("GetLoadState", "GetLoadState")).allow
	d(call("api_key", "ci-bot", ["writer"], "DescribeCollection", "DescribeCollection", true)).allow
}

test_key_may_not_write if {
	d(key("Insert", "Insert")) == {
		"allow": false,
		"reason": "API keys are read-only: Insert is not in CollectionReadOnly (use a password or a JWT to write)",
	}
	not d(key("Delete", "Delete")).allow
	not d(key("Load", "Load")).allow
	not d(call("api_key", "ci-bot", ["writer"], "CreateCollection", "CreateCollection", true)).allow
}

test_key_may_use_no_privilege_rpcs if {
	d(key("HasCollection", "")).allow
	d(key("GetVersion", "")).allow
}

test_password_identity_may_write if {
	d(call("password", "alice", ["writer"], "Insert", "Insert", false)).allow
}

test_root_key_is_read_only_too if {
	d(call("api_key", "root", [], "Search", "Search", false)).allow
	not d(call("api_key", "root", [], "DropCollection", "DropCollection", true)).allow
	d(call("password", "root", [], "DropCollection", "DropCollection", true)).allow
}

test_rbac_still_applies if {
	# Read privileges still need a grant: a key without roles gets Milvus's denial.
	inp := call("api_key", "lonely", [], "Search", "Search", false)
	d(inp) == {"allow": false, "reason": "PrivilegeSearch: permission deny to lonely in the `default` database"}
}
