//go:build tools

// This file pins the OPA module the Rego engine is built on (and the packages
// of its CLI, which `make test` builds to run stock `opa test` on the bundles),
// so go.mod keeps the version the project is tested with. The tools tag keeps
// it out of every build.
package policy

import (
	_ "github.com/open-policy-agent/opa/cmd"
	_ "github.com/open-policy-agent/opa/v1/rego"
)
