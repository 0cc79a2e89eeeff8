# Roles from JWT groups, then Milvus RBAC (milvus/rbac is a copy of the default policy).
#
# For an identity that authenticated with a JWT, every group in its `groups` claim
# that data.milvus.jwt_group_roles maps adds those roles ("ml-admins" -> admin,
# "ml-readers" -> ml_reader); the roles the edge already took from the token's roles
# claim stay. Then the default RBAC decides with these roles. Password and API-key
# identities keep their roles: their claims are never read.
package milvus.authz

import data.milvus.rbac

default decision := {"allow": false, "reason": "jwt groups: incomplete authorization input"}

decision := d if {
	d := rbac.decision with input.identity.roles as roles
}

roles := array.concat(input.identity.roles, group_roles) if {
	input.identity.method == "jwt"
} else := input.identity.roles

# Only the caller's own groups are looked up: one map lookup per group.
group_roles := [role |
	some group in token_groups
	some role in data.milvus.jwt_group_roles[group]
]

# The groups claim: a list of names, or a single name.
token_groups := input.identity.claims.groups if {
	is_array(input.identity.claims.groups)
} else := [input.identity.claims.groups] if {
	is_string(input.identity.claims.groups)
} else := []
