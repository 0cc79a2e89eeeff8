// Package edgehdr names the request headers milvus-edge uses inside Envoy.
// Clients may not set them: the listener strips every one of them before any
// filter runs, so a client cannot choose its own route or identity.
package edgehdr

const (
	// Route carries the route key "<database>/<collection>" that ext_proc sets
	// from the decoded request; Envoy's routes match it.
	Route = "x-milvus-edge-route"
	// User carries the authenticated user name upstream (set by ext_authz).
	User = "x-milvus-edge-user"
	// Reject carries a Milvus status (base64 of a marshalled common.Status) for a
	// request ext_proc refused; Envoy routes such requests to the edge's own
	// responder, which answers with the method's typed response.
	Reject = "x-milvus-edge-reject"
	// Checked marks a request ext_authz already decoded, validated and gave
	// its route key: Envoy's routes for it skip ext_proc.
	Checked = "x-milvus-edge-checked"
	// Watch marks the call ext_authz chose to have its response status read
	// by ext_proc (the sampled backend-answer watch).
	Watch = "x-milvus-edge-watch"
)

// Internal lists every header the edge owns.
var Internal = []string{Route, User, Reject, Checked, Watch}
