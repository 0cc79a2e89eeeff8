//go:build tools

// This file pins the OPA module the Rego engine is built on, so go.mod keeps
// the version the project is tested with (open-policy-agent/opa v1.22.2)
// before any package imports it. The tools tag keeps it out of every build.
package policy

import _ "github.com/open-policy-agent/opa/v1/rego"
