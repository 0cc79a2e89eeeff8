# Search caps for role analyst, on top of Milvus RBAC (milvus/rbac is a copy of the
# default policy): a Search (or HybridSearch) by an analyst may ask for at most
# max_topk results per query vector and at most max_nq query vectors. When the edge
# only saw a prefix of the body (input.truncated_body) and topk or nq is not in it,
# the request is denied: the cap cannot be checked, so it fails closed.
package milvus.authz

import data.milvus.rbac

max_topk := 100

max_nq := 10

default decision := {"allow": false, "reason": "topk cap: incomplete authorization input"}

decision := {"allow": false, "reason": cap_violation} if {
	capped
} else := rbac.decision

capped if {
	input.milvus.privilege == "Search"
	"analyst" in input.identity.roles
	cap_violation
}

cap_violation := sprintf("topk %v exceeds the cap of %v for role analyst", [input.milvus.topk, max_topk]) if {
	input.milvus.topk > max_topk
} else := sprintf("nq %v exceeds the cap of %v for role analyst", [input.milvus.nq, max_nq]) if {
	input.milvus.nq > max_nq
} else := "topk unknown: the request body was truncated before topk, denied (fail closed) for role analyst" if {
	input.truncated_body == true
	not input.milvus.topk
} else := "nq unknown: the request body was truncated before nq, denied (fail closed) for role analyst" if {
	input.truncated_body == true
	not input.milvus.nq
}
