# PII guard on top of Milvus RBAC (milvus/rbac is a copy of the default policy).
#
# Search and Query (and Get, which is a Query) may not return the fields ssn or email,
# nor filter on them, unless the caller holds role pii_reader. output_fields "*" (all
# fields) counts as asking for them; so do dynamic-field paths like $meta["email"].
# When the edge only saw a prefix of the body and output_fields is not in it, the
# request is denied: what it returns cannot be checked, so it fails closed.
package milvus.authz

import data.milvus.rbac

pii_fields := {"ssn", "email"}

# A field name or expression that mentions a PII field as a whole word.
pii_pattern := `(?i)\b(ssn|email)\b`

default decision := {"allow": false, "reason": "pii guard: incomplete authorization input"}

decision := {"allow": false, "reason": pii_violation} if {
	input.milvus.privilege in {"Search", "Query"}
	not "pii_reader" in input.identity.roles
	pii_violation
} else := rbac.decision

pii_violation := sprintf("pii guard: output field %q is restricted to role pii_reader", [field]) if {
	some field in input.milvus.output_fields
	regex.match(pii_pattern, field)
} else := sprintf("pii guard: output_fields * would return %s; list the fields (role pii_reader may ask for all)", [concat(" and ", sort(pii_fields))]) if {
	"*" in input.milvus.output_fields
} else := "pii guard: the filter mentions a field restricted to role pii_reader (ssn, email)" if {
	regex.match(pii_pattern, input.milvus.filter)
} else := "pii guard: the request body was truncated before output_fields, denied (fail closed)" if {
	input.truncated_body == true
	not input.milvus.output_fields
}
