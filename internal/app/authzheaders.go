package app

import (
	"slices"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/policy"
)

// AuthzHeaders are the request headers ext_authz needs with bundle b: the
// filter server's own and those the bundle's decision reads; nil (all)
// when the decision reads the headers object whole or by a variable key.
// The control plane uses them only for the embedded bundle
// (translate.Options.AuthzHeaders).
func AuthzHeaders(b *policy.Bundle) []string {
	names, all := b.Input.Headers()
	if all {
		return nil
	}
	return append(slices.Clone(authz.RequestHeaders), names...)
}
