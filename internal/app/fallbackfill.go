package app

import (
	"context"
	"time"

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
// the fallback's schema instead of letting them pass unvalidated. fromFallback
// says the schema is the fallback's: the entry is cached under the
// cluster's key only briefly (fallbackTTL), because the fallback may lag the
// primary (a field added there) and the primary's own schema must decide
// its writes as soon as it is back. An answer (found or not found) of the
// cluster itself always wins.
func describeOrFallback(ctx context.Context, pool *backends.Pool, fallbacks map[string]string, k cache.SchemaKey) (col *backends.Collection, fromFallback bool, err error) {
	col, err = pool.Describe(ctx, k.Cluster, k.DB, k.Collection)
	fb, ok := fallbacks[k.Cluster]
	if err == nil || !ok || status.Code(err) != codes.Unavailable {
		return col, false, err
	}
	if col, ferr := pool.Describe(ctx, fb, k.DB, k.Collection); ferr == nil {
		return col, true, nil
	}
	return nil, false, err
}

// fallbackTTL is how long a schema filled from a fallback is kept:
// validation.failure_ttl (the time a sick cluster is left alone before it is
// asked again), at least 1 s, at most validation.schema_ttl.
func fallbackTTL(cfg *config.Config) time.Duration {
	return min(cfg.Validation.SchemaTTL.D(), max(cfg.Validation.FailureTTL.D(), time.Second))
}
