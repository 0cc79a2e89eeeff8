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
)

// Internal lists every header the edge owns.
var Internal = []string{Route, User}
