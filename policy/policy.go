// Package policy is the edge's embedded OPA engine: it loads a Rego bundle
// (the security team's folder, or the embedded default that reproduces Milvus
// RBAC), compiles it once into a prepared query for data.milvus.authz.decision,
// runs the bundle's own Rego tests before adopting it, and swaps it atomically
// on hot reload. See docs/policy-contract.md for the input and decision.
package policy

// Decision is the outcome of one evaluation.
type Decision struct {
	// Allow lets the request through.
	Allow bool
	// Reason explains a denial (Milvus's own text in the default bundle).
	Reason string
	// Status is the HTTP status of a denial (403 default; 401 → UNAUTHENTICATED).
	Status int
	// Headers are added upstream on allow.
	Headers map[string]string
}
