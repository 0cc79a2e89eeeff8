package milvus.authz_test

import data.milvus.authz

# search by `user` with `roles` on default.docs; limits is merged into input.milvus
# (topk, nq), truncated says whether the body was cut.
search(user, roles, limits, truncated) := {
	"parsed_body": {"collectionName": "docs"},
	"truncated_body": truncated,
	"milvus": object.union(
		{
			"surface": "grpc", "api": "Search", "privilege": "Search", "object_type": "Collection",
			"object_name": "docs", "db": "default", "collection": "docs", "partitions": [],
		},
		limits,
	),
	"identity": {"user": user, "roles": array.concat(roles, ["public"]), "method": "password", "claims": {}},
}

analyst(limits, truncated) := search("ana", ["analyst"], limits, truncated)

# The data these tests assume (as in data.yaml), so they pass whatever data.yaml holds.
roles := {
	"analyst": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "*", "privilege": "CollectionReadOnly"}]},
	"reader": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "*", "privilege": "CollectionReadOnly"}]},
}

d(inp) := x if {
	x := authz.decision with input as inp with data.milvus.roles as roles with data.milvus.settings as {"root_bypass": true}
}

test_within_caps_allowed if {
	d(analyst({"topk": 10, "nq": 1}, false)).allow
	d(analyst({"topk": 100, "nq": 10}, false)).allow
}

test_topk_over_cap_denied if {
	d(analyst({"topk": 101, "nq": 1}, false)) == {"allow": false, "reason": "topk 101 exceeds the cap of 100 for role analyst"}
}

test_nq_over_cap_denied if {
	d(analyst({"topk": 5, "nq": 11}, false)) == {"allow": false, "reason": "nq 11 exceeds the cap of 10 for role analyst"}
}

test_truncated_without_topk_fails_closed if {
	d(analyst({"nq": 1}, true)) == {"allow": false, "reason": "topk unknown: the request body was truncated before topk, denied (fail closed) for role analyst"}
	d(analyst({"topk": 10}, true)).reason == "nq unknown: the request body was truncated before nq, denied (fail closed) for role analyst"
}

test_truncated_with_limits_allowed if {
	d(analyst({"topk": 50, "nq": 2}, true)).allow
}

test_complete_body_without_topk_allowed if {
	# Nothing was cut: Milvus applies its own default.
	d(analyst({}, false)).allow
}

test_other_roles_not_capped if {
	d(search("app", ["reader"], {"topk": 5000, "nq": 500}, true)).allow
}

test_query_not_capped if {
	inp := json.patch(analyst({}, true), [
		{"op": "replace", "path": "/milvus/api", "value": "Query"},
		{"op": "replace", "path": "/milvus/privilege", "value": "Query"},
	])
	d(inp).allow
}

test_rbac_still_applies if {
	inp := json.patch(analyst({}, false), [
		{"op": "replace", "path": "/milvus/api", "value": "Insert"},
		{"op": "replace", "path": "/milvus/privilege", "value": "Insert"},
	])
	d(inp) == {"allow": false, "reason": "PrivilegeInsert: permission deny to ana in the `default` database"}
	not d(json.patch(analyst({"topk": 1}, false), [{"op": "replace", "path": "/milvus/db", "value": "prod"}])).allow
}
