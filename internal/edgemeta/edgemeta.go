// Package edgemeta names the per-call facts the edge hands to Envoy as
// dynamic metadata and reads back from Envoy's access log entries: one place
// for the keys the filters write, the access log prints, and the metrics and
// traces read. ext_authz's dynamic metadata lands in Envoy's namespace
// AuthzNamespace, where ext_proc adds to it; the Milvus status of the
// response (read from the response message by the edge's calls filter in
// Envoy, callsmodule/) in ResponseNamespace. docs/access-log.md
// says where each key comes from.
package edgemeta

// Namespaces in Envoy's dynamic metadata.
const (
	// AuthzNamespace is where Envoy puts ext_authz's dynamic_metadata. It is
	// also the one namespace ext_proc may write (its filter config's
	// receiving_namespaces): Refused on its refusals, and Rows of the
	// inserts it decodes whole; Envoy merges the keys.
	AuthzNamespace = "envoy.filters.http.ext_authz"
	// ResponseNamespace holds the Milvus status of the response message
	// (keys Code, ErrorCode, Reason), set by the edge's calls filter (callsmodule/) from the
	// first bytes of the response body (gRPC message or REST v2 JSON).
	ResponseNamespace = "milvus_edge.response"
)

// Keys in AuthzNamespace, set by ext_authz on every call it answers (allowed
// or not; keys without a value are left out).
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
	// NQ, TopK and Rows are numbers the request carries (absent when not);
	// ext_proc sets Rows of an insert larger than ext_authz's prefix.
	NQ   = "nq"
	TopK = "topk"
	Rows = "num_rows"
	// DecisionID ties the call to its decision log record.
	DecisionID = "decision_id"
	// Refused says who answered the call at the edge instead of the backend:
	// "auth", "policy", "rate_limit" or "validation" (ext_authz's single
	// pass, or ext_proc); absent when forwarded.
	Refused = "refused"
	// TraceID is the call's W3C trace id when it is traced (ext_authz
	// decides, internal/edgetrace); SpanID is the id of the server span
	// the edge makes for Envoy's handling of the call (S), UpstreamSpanID
	// that of Envoy's call to the backend (U, the traceparent Milvus gets),
	// and ParentSpanID the client's span when its traceparent was sampled.
	// The edge builds S and U from the call's access-log entry; all four are
	// lower-case hex, absent for calls not traced.
	TraceID        = "trace_id"
	SpanID         = "span_id"
	UpstreamSpanID = "upstream_span_id"
	ParentSpanID   = "parent_span_id"
)

// Keys in ResponseNamespace, numbers and a string. A gRPC answer without a
// message (an error status: a denial, a failed login, Envoy's or Milvus's
// own gRPC errors) has only Reason, its grpc-message; a compressed message
// has none.
const (
	// Code is the response status's code (merr code; 0 = success).
	Code = "code"
	// ErrorCode is the legacy error_code (absent when 0).
	ErrorCode = "error_code"
	// Reason is the status's reason (REST: message; absent when empty).
	Reason = "reason"
)

// Refused values.
const (
	RefusedAuth       = "auth"
	RefusedPolicy     = "policy"
	RefusedRateLimit  = "rate_limit"
	RefusedValidation = "validation"
)
