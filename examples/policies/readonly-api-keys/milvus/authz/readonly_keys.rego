# Read-only API keys, on top of Milvus RBAC (milvus/rbac is a copy of the default
# policy): an identity that authenticated with an API key may only use privileges of
# the built-in group CollectionReadOnly (Search, Query, DescribeCollection, ...) and
# RPCs that need no privilege, whatever its roles allow, even for user root.
# RBAC must allow the request too.
package milvus.authz

import data.milvus.rbac

default decision := {"allow": false, "reason": "read-only API keys: incomplete authorization input"}

decision := {"allow": false, "reason": reason} if {
	input.identity.method == "api_key"
	input.milvus.privilege != ""
	not rbac.groups.CollectionReadOnly[input.milvus.privilege]
	reason := sprintf(
		"API keys are read-only: %s is not in CollectionReadOnly (use a password or a JWT to write)",
		[input.milvus.privilege],
	)
} else := rbac.decision
