# Every decision shape the engine must accept or refuse, chosen by input.case.
package milvus.authz

decision := true if input.case == "bool_true"

decision := false if input.case == "bool_false"

decision := {"allow": true, "headers": {"x-tenant": "a"}} if input.case == "object_allow"

decision := {"allow": false, "reason": "no", "status": 401} if input.case == "object_deny"

decision := {"allow": false} if input.case == "object_deny_default_status"

decision := {"allow": "yes"} if input.case == "allow_string"

decision := {"reason": "x"} if input.case == "allow_missing"

decision := {"allow": false, "status": "403"} if input.case == "status_string"

decision := {"allow": false, "status": 200} if input.case == "status_ok"

decision := {"allow": true, "headers": {"x-n": 1}} if input.case == "header_number"

decision := "allow" if input.case == "string"

decision := {"allow": true, "now_ns": time.now_ns()} if input.case == "clock"
