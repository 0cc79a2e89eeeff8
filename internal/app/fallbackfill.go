package app

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/internal/config"
)

// fallbacksOf maps each route's cluster to its fallback (routes[].fallback),
// the first rule naming the cluster deciding.
func fallbacksOf(cfg *config.Config) *map[string]string {
	out := map[string]string{}
	for _, r := range cfg.Routes {
		if _, seen := out[r.Cluster]; r.Fallback != "" && r.Cluster != "" && !seen {
			out[r.Cluster] = r.Fallback
		}
	}
	return &out
}

// describeOrFallback fills a schema from the key's cluster, or from its
// fallback when the cluster cannot be reached (gRPC UNAVAILABLE: every
// endpoint down). Envoy then sends the cluster's reads to the fallback,
// which serves the same collections, so the edge validates them against
// the fallback's schema instead of letting them pass unvalidated. The entry
// is cached under the cluster's key for validation.schema_ttl, as any fill.
// An answer (found or not found) of the cluster itself always wins.
func describeOrFallback(ctx context.Context, pool *backends.Pool, fallbacks map[string]string, k cache.SchemaKey) (*backends.Collection, error) {
	col, err := pool.Describe(ctx, k.Cluster, k.DB, k.Collection)
	fb, ok := fallbacks[k.Cluster]
	if err == nil || !ok || status.Code(err) != codes.Unavailable {
		return col, err
	}
	if col, ferr := pool.Describe(ctx, fb, k.DB, k.Collection); ferr == nil {
		return col, nil
	}
	return nil, err
}
