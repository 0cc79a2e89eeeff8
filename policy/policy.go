// Package policy decides whether an authenticated identity may make a Milvus
// request. The Engine interface is the seam the ext_authz server calls; the
// OPA/Rego engine that reproduces Milvus RBAC plugs in here (see issue
// "Authentication and OPA authorization"). Until then the edge runs
// AuthenticatedOnly, which is exactly what its name says and nothing more.
package policy

import "context"

// Input is what a decision is made on.
type Input struct {
	// User is the authenticated user name.
	User string
	// AuthMethod says how the user proved it: "password".
	AuthMethod string
	// API is the Milvus RPC or REST operation, e.g. "Search"; "" when unknown.
	API string
	// Path is the HTTP path of the request.
	Path string
}

// Decision is the outcome of one check.
type Decision struct {
	Allow  bool
	Reason string
}

// Engine decides on inputs. Implementations must be safe for concurrent use.
type Engine interface {
	Decide(ctx context.Context, in *Input) (Decision, error)
}

// AuthenticatedOnly allows every authenticated identity to make any request:
// authentication without authorization, as Milvus behaves with authorization
// enabled and every user bound to the admin role.
type AuthenticatedOnly struct{}

// Decide allows any input whose user is set.
func (AuthenticatedOnly) Decide(_ context.Context, in *Input) (Decision, error) {
	if in.User == "" {
		return Decision{Reason: "no identity"}, nil
	}
	return Decision{Allow: true}, nil
}
