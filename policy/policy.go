// Package policy is the edge's embedded OPA engine: it loads a Rego bundle
// (the security team's folder, or the embedded default that reproduces Milvus
// RBAC), compiles it once into a prepared query for data.milvus.authz.decision,
// runs the bundle's own Rego tests and validates its data before adopting it,
// and swaps it atomically on reload (Engine.Watch polls the folder). Decisions
// may be cached per bundle version. See docs/policy-contract.md for the
// bundle, data, input and decision.
package policy

import "errors"

// DecisionQuery is the one query the engine prepares for every bundle.
const DecisionQuery = "data.milvus.authz.decision"

// Errors callers branch on; every other error is an evaluation failure.
var (
	// ErrNoBundle is returned by Eval when no bundle has been loaded yet.
	ErrNoBundle = errors.New("no policy bundle loaded")
	// ErrMalformedDecision is wrapped when the decision is neither a
	// boolean nor an object of the shape the contract describes.
	ErrMalformedDecision = errors.New("malformed policy decision")
)

// Decision is the outcome of one evaluation.
type Decision struct {
	// Allow lets the request through.
	Allow bool
	// Reason explains a denial (Milvus's own text in the default bundle).
	Reason string
	// Status is the HTTP status of a denial: 403 when the policy names none
	// (401 → UNAUTHENTICATED, 429 → UNAVAILABLE); 0 on allow.
	Status int
	// Headers are added upstream on allow. Decisions served from the cache
	// share this map: treat it as read-only.
	Headers map[string]string
}
