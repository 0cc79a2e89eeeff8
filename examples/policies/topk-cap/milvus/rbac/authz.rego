# COPY of policy/bundle/milvus/authz/authz.rego with the package renamed to milvus.rbac,
# so this example can call the default Milvus RBAC as data.milvus.rbac.decision. Do not edit.
#
# Milvus Edge default policy: Milvus RBAC (Milvus 2.6 PrivilegeInterceptor), in Rego.
#
# Entry point: data.milvus.authz.decision -> {"allow": bool, "reason": string}.
# Input document and data schema: docs/policy-contract.md; guide: docs/policy.md.
#
# A request is allowed when
#   - its RPC needs no privilege (input.milvus.privilege == ""), or
#   - the caller is root (password or API key) and settings.root_bypass is not false, or
#   - a grant of a role the caller holds matches it: db glob, object name glob (skipped
#     for Global privileges, whose object is always `*`), and the grant's privilege is
#     the privilege itself or a related one (Load, Flush) with the same object type, a
#     privilege group holding it, or All (grant_table.rego, derived from groups.rego), or
#   - the caller holds role admin, or
#   - it is a User object naming the caller, or SelectGrant of a role the caller holds, or
#   - it is a built-in grant of role public (DescribeCollection, ListAliases, IndexDetail).
# Otherwise it is denied with Milvus's own message.
#
# Performance (a decision is meant to take <= 15 us): only the linear fragment.
# Evaluation iterates over the caller's roles and each role's grants
# (data.milvus.roles[role].grants), never over all roles or users; a grant costs one
# O(1) table lookup and one or two glob.match calls; rule indexing on
# input.milvus.{privilege, object_type, api} and input.identity.user skips the bodies
# that cannot apply, and `allow` stops at the first body that succeeds, so the common
# case (a grant) comes first.
package milvus.rbac

# Fail closed when the input lacks what a decision needs.
default decision := {"allow": false, "reason": "permission denied: incomplete authorization input"}

decision := {"allow": true, "reason": ""} if {
	allow
	not denied_name
} else := {"allow": false, "reason": deny_reason}

# Flush names several collections (input.milvus.object_names) and Milvus checks
# each: every one must be allowed on its own. Absent for every other RPC.
denied_name if {
	some name in input.milvus.object_names
	not allow with input.milvus.object_name as name
}

# Milvus's text (internal/proxy/privilege_interceptor.go).
deny_reason := sprintf(
	"Privilege%s: permission deny to %s in the `%s` database",
	[input.milvus.privilege, input.identity.user, input.milvus.db],
)

default allow := false

# An RPC whose request type carries no privilege option is not checked (as in Milvus).
allow if input.milvus.privilege == ""

# root skips RBAC (Milvus common.security.rootShouldBindRole=false), unless
# settings.root_bypass is false. Not for JWTs: a token naming "root" is not Milvus's root.
allow if {
	input.identity.user == "root"
	input.identity.method != "jwt"
	not root_bypass_disabled
}

# Grants of the caller's roles, one rule per object type (rule indexing picks one).
# grant_table.<type> only holds privileges of that object type (Milvus matches
# `<type>-<db>.<name>`), and none unknown to object_types in groups.rego: those are
# left to root and admin (fail closed).
allow if {
	input.milvus.object_type == "Collection"
	some role in input.identity.roles
	some grant in data.milvus.roles[role].grants
	grant_table.Collection[grant.privilege][input.milvus.privilege][grant.object_type]
	glob.match(grant.db, null, input.milvus.db)
	glob.match(grant.object_name, null, input.milvus.object_name)
}

# Global privileges act on `<db>.*`: the grant's object name does not matter (Milvus
# stores Global grants, and the Global members of a group, on object name `*`).
allow if {
	input.milvus.object_type == "Global"
	some role in input.identity.roles
	some grant in data.milvus.roles[role].grants
	grant_table.Global[grant.privilege][input.milvus.privilege][grant.object_type]
	glob.match(grant.db, null, input.milvus.db)
}

allow if {
	input.milvus.object_type == "User"
	some role in input.identity.roles
	some grant in data.milvus.roles[role].grants
	grant_table.User[grant.privilege][input.milvus.privilege][grant.object_type]
	glob.match(grant.db, null, input.milvus.db)
	glob.match(grant.object_name, null, input.milvus.object_name)
}

# Built-in role admin may do everything.
allow if "admin" in input.identity.roles

# A User object naming the caller: update one's own password, describe oneself.
allow if {
	input.milvus.object_type == "User"
	input.milvus.object_name == input.identity.user
}

# SelectGrant of a role the caller holds.
allow if {
	input.milvus.api == "SelectGrant"
	selected_role in input.identity.roles
}

# Built-in grants of role public (Milvus >= 2.5.4, enablePublicPrivilege): Global
# DescribeCollection and ListAliases on *.*, Collection IndexDetail on *.*.
allow if {
	input.milvus.privilege == "DescribeCollection"
	input.milvus.object_type == "Global"
	"public" in input.identity.roles
}

allow if {
	input.milvus.privilege == "ListAliases"
	input.milvus.object_type == "Global"
	"public" in input.identity.roles
}

allow if {
	input.milvus.privilege == "IndexDetail"
	input.milvus.object_type == "Collection"
	"public" in input.identity.roles
}

root_bypass_disabled if data.milvus.settings.root_bypass == false

# The role a SelectGrant names: entity.role.name (gRPC) or roleName (REST).
selected_role := name if {
	name := input.parsed_body.entity.role.name
} else := input.parsed_body.roleName
