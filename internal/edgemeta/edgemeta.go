// Package edgemeta names the per-call facts the edge hands to Envoy as
// dynamic metadata and reads back from Envoy's access log entries: one place
// for the keys the filters write, the access log prints, and the metrics and
// traces read. ext_authz's dynamic metadata lands in Envoy's namespace
// AuthzNamespace; the Milvus status of the response (read from the response
// message by Envoy) in ResponseNamespace.
package edgemeta

// Namespaces in Envoy's dynamic metadata.
const (
	// AuthzNamespace is where Envoy puts ext_authz's dynamic_metadata.
	AuthzNamespace = "envoy.filters.http.ext_authz"
	// ResponseNamespace holds the Milvus status of the response message
	// (keys Code, ErrorCode, Reason), set by Envoy from the response body.
	ResponseNamespace = "milvus_edge.response"
)

// Keys in AuthzNamespace, set by ext_authz on every call it answers.
const (
	// API is the RPC name ("Search"; REST paths map to the same names) —
	// Milvus's function_name label.
	API = "api"
	// Surface is "grpc" or "rest".
	Surface = "surface"
	// DB, Collection and Partition are the names the call carries ("" when
	// none); Partition is the first partition named.
	DB         = "db"
	Collection = "collection"
	Partition  = "partition"
	// User is the authenticated user ("" when authentication failed).
	User = "user"
	// NQ, TopK and Rows are numbers the request carries (absent when not).
	NQ   = "nq"
	TopK = "topk"
	Rows = "num_rows"
	// DecisionID ties the call to its decision log record.
	DecisionID = "decision_id"
	// Refused says who answered the call at the edge instead of the backend:
	// "auth", "policy", "rate_limit" or "validation"; absent when forwarded.
	Refused = "refused"
	// TraceID is the call's W3C trace id when it is traced.
	TraceID = "trace_id"
)

// Keys in ResponseNamespace.
const (
	// Code is the response status's code (merr code; 0 = success).
	Code = "code"
	// ErrorCode is the legacy error_code.
	ErrorCode = "error_code"
	// Reason is the status's reason.
	Reason = "reason"
)

// Refused values.
const (
	RefusedAuth       = "auth"
	RefusedPolicy     = "policy"
	RefusedRateLimit  = "rate_limit"
	RefusedValidation = "validation"
)
