package authz

// PartialBodyHeader is set by Envoy when it sent only a prefix of the body
// (with_request_body.allow_partial_message).
const PartialBodyHeader = "x-envoy-auth-partial-body"

// RequestHeaders are the request headers this server reads itself, besides
// what the policy reads of input.attributes.request.http.headers. The
// control plane asks Envoy to send only these and the policy's
// (ext_authz allowed_headers): every header Envoy leaves out is one less
// to copy, send and decode on every call. TestRequestHeadersListsEveryRead
// fails when the code reads a header missing here.
var RequestHeaders = []string{
	"authorization",  // the credential (identity.go)
	"content-type",   // gRPC or REST
	"content-length", // a REST body's declared size: the size limit, partial bodies
	"dbname",         // gRPC: the database Milvus checks
	"db-name",        // REST: the database when the body names none
	"grpc-encoding",  // a compressed gRPC message
	"traceparent",    // the client's trace decides tracing (trace.go)
	PartialBodyHeader,
}
