package translate

import (
	"slices"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// authzHeaders is what Envoy sends ext_authz of a request's headers (see
// Options.AuthzHeaders), sorted and without duplicates; nil: all.
func authzHeaders(c *config.Config, o Options) []string {
	if c.Auth.PolicyDir != "" || o.AuthzHeaders == nil {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(o.AuthzHeaders)))
}
