# Tenant isolation on top of Milvus RBAC (milvus/rbac is a copy of the default policy).
#
# A user's tenant comes from its roles: role tenant_a means tenant "a". A tenant user
# may only name collections and aliases called a_... in database default, and RBAC
# must allow the request too. root and role admin are not tenants: RBAC alone decides.
# Everything else is denied, with a reason that says why.
package milvus.authz

import data.milvus.rbac

default decision := {"allow": false, "reason": "tenant isolation: incomplete authorization input"}

decision := rbac.decision if {
	not_a_tenant_user
} else := deny(sprintf("tenant isolation: %s holds no tenant_* role", [input.identity.user])) if {
	count(tenants) == 0
} else := deny(sprintf("tenant isolation: tenants work in database default only, not `%s`", [input.milvus.db])) if {
	input.milvus.db != "default"
} else := deny("tenant isolation: collections stay in database default") if {
	moves_database
} else := deny("tenant isolation: ShowCollections would list other tenants' collections") if {
	input.milvus.api == "ShowCollections"
} else := deny(sprintf("tenant isolation: %s may only use collections named %s, not `%s`", [input.identity.user, prefixes, name])) if {
	some name in names
	not own(name)
} else := deny(sprintf("tenant isolation: %s names no collection of the tenant", [input.milvus.api])) if {
	input.milvus.privilege != ""
	count(names) == 0
} else := rbac.decision

deny(reason) := {"allow": false, "reason": reason}

# root (with root_bypass) and admins are governed by RBAC only.
not_a_tenant_user if {
	input.identity.user == "root"
	input.identity.method != "jwt"
	data.milvus.settings.root_bypass != false
}

not_a_tenant_user if "admin" in input.identity.roles

# tenants: {"a"} for a caller holding role tenant_a.
tenants contains substring(role, 7, -1) if {
	some role in input.identity.roles
	startswith(role, "tenant_")
}

prefixes := concat(" or ", sort([sprintf("%s_*", [t]) | some t in tenants]))

own(name) if {
	some t in tenants
	startswith(name, concat("", [t, "_"]))
}

# Every collection or alias name the request carries (gRPC and REST field names).
names contains input.milvus.collection if input.milvus.collection != ""

names contains input.milvus.object_name if {
	input.milvus.object_type == "Collection"
	input.milvus.object_name != "*"
}

names contains name if {
	some field in ["alias", "aliasName", "oldName", "newName", "newCollectionName"]
	name := input.parsed_body[field]
	is_string(name)
	name != ""
}

names contains name if {
	some name in input.parsed_body.collectionNames # Flush
}

# RenameCollection may also move a collection to another database.
moves_database if {
	some field in ["newDBName", "newDbName"]
	db := input.parsed_body[field]
	not db in {"", "default"}
}
