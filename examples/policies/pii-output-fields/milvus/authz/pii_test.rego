package milvus.authz_test

import data.milvus.authz

# A Query (or Search) on default.people by `user` with `roles`; extra is merged into
# input.milvus (output_fields, filter).
call(priv, user, roles, extra, truncated) := {
	"parsed_body": {"collectionName": "people"},
	"truncated_body": truncated,
	"milvus": object.union(
		{
			"surface": "grpc", "api": priv, "privilege": priv, "object_type": "Collection",
			"object_name": "people", "db": "default", "collection": "people", "partitions": [],
		},
		extra,
	),
	"identity": {"user": user, "roles": array.concat(roles, ["public"]), "method": "password", "claims": {}},
}

app(extra) := call("Query", "app", ["reader"], extra, false)

# The data these tests assume (as in data.yaml), so they pass whatever data.yaml holds.
roles := {
	"reader": {"grants": [{"object_type": "Collection", "db": "default", "object_name": "*", "privilege": "CollectionReadOnly"}]},
	"pii_reader": {"grants": []},
}

d(inp) := x if {
	x := authz.decision with input as inp with data.milvus.roles as roles with data.milvus.settings as {"root_bypass": true}
}

test_plain_fields_allowed if {
	d(app({"output_fields": ["id", "name"], "filter": "age > 30"})).allow
	d(call("Search", "app", ["reader"], {"output_fields": ["id"]}, false)).allow
	d(app({})).allow # no output_fields: Milvus returns the primary key only
}

test_pii_output_field_denied if {
	d(app({"output_fields": ["id", "email"]})) == {"allow": false, "reason": "pii guard: output field \"email\" is restricted to role pii_reader"}
	not d(app({"output_fields": ["SSN"]})).allow
	not d(call("Search", "app", ["reader"], {"output_fields": ["ssn"]}, false)).allow
}

test_dynamic_field_path_denied if {
	not d(app({"output_fields": ["$meta[\"email\"]"]})).allow
}

test_all_fields_denied if {
	d(app({"output_fields": ["*"]})).reason == "pii guard: output_fields * would return email and ssn; list the fields (role pii_reader may ask for all)"
}

test_filter_on_pii_denied if {
	d(app({"output_fields": ["id"], "filter": "email like \"%@example.com\""})).reason == "pii guard: the filter mentions a field restricted to role pii_reader (ssn, email)"
	not d(app({"filter": "ssn == \"123-45-6789\""})).allow
}

test_similar_names_allowed if {
	d(app({"output_fields": ["ssn_hash", "email_domain"], "filter": "emails_sent > 3"})).allow
}

test_truncated_without_output_fields_fails_closed if {
	d(call("Search", "app", ["reader"], {}, true)).reason == "pii guard: the request body was truncated before output_fields, denied (fail closed)"
	d(call("Search", "app", ["reader"], {"output_fields": ["id"]}, true)).allow
}

test_pii_reader_may_see_pii if {
	d(call("Query", "auditor", ["reader", "pii_reader"], {"output_fields": ["*"], "filter": "email != \"\""}, false)).allow
	d(call("Search", "auditor", ["reader", "pii_reader"], {}, true)).allow
}

test_rbac_still_applies if {
	# pii_reader alone holds no grants: RBAC denies with Milvus's text.
	inp := call("Query", "eve", ["pii_reader"], {"output_fields": ["email"]}, false)
	d(inp) == {"allow": false, "reason": "PrivilegeQuery: permission deny to eve in the `default` database"}
	not d(call("Insert", "app", ["reader"], {}, false)).allow
}
