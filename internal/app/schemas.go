package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/extproc"
	"github.com/milvus-edge/milvus-edge/extproc/validate"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
)

// schemaEntry is what the schema cache holds for a collection or alias.
type schemaEntry struct {
	schema *validate.Schema
	real   string // the collection's name when looked up by alias
	props  map[string]string
	size   int64
	// fallback says the schema came from the cluster's fallback while the
	// cluster was unreachable: kept only fallbackTTL.
	fallback bool
}

// SchemaStore implements extproc.Schemas: a ristretto cache filled from the
// backends (DescribeCollection + ShowPartitions + ListAliases), one fill per
// key at a time.
type SchemaStore struct {
	c *cache.Schemas[*schemaEntry]
	// dbs holds database properties (DescribeDatabase), keyed with an
	// empty collection, for the rate limits' force-deny switches.
	dbs  *cache.Schemas[map[string]string]
	pool *backends.Pool
	// auth maps a cluster to the gRPC authorization value of its credential
	// (clusters[].credential), replaced whole on every config reload.
	auth atomic.Pointer[map[string]string]
	// fallbacks maps a cluster to its routes' fallback cluster (fallbackfill.go).
	fallbacks atomic.Pointer[map[string]string]
	// tr records the fills of traced calls (UseTracer); nil: none.
	tr *edgetrace.Tracer

	// targetsMu serializes pool updates from reloads and from discovery.
	targetsMu sync.Mutex
	cfg       *config.Config // the config of the last Update
	// discovered returns a discovered cluster's endpoints in use (ok false:
	// its static ones); nil: no discovery.
	discovered func(cluster string) ([]string, bool)
	// hub, when the in-process module runs, gets every invalidation and
	// discovered endpoint set (SyncTo); nil otherwise.
	hub *SyncHub
}

// SyncTo sends the store's invalidations and discovered endpoints to the
// in-process module's stream (set once, before serving).
func (s *SchemaStore) SyncTo(h *SyncHub) { s.hub = h }

// NewSchemaStore returns the schema cache over the clusters of cfg.
func NewSchemaStore(cfg *config.Config) (*SchemaStore, error) {
	s := &SchemaStore{}
	s.auth.Store(authOf(cfg))
	s.fallbacks.Store(fallbacksOf(cfg))
	s.cfg = cfg
	// The pool asks on every fill, so a reloaded credential applies at once.
	pool := backends.NewPool(targetsOf(cfg), func(cluster string) string { return (*s.auth.Load())[cluster] })
	load := func(ctx context.Context, k cache.SchemaKey) (*schemaEntry, error) {
		var fromFallback bool
		col, err := traceFill(s, ctx, k, "collection", func(ctx context.Context) (*backends.Collection, error) {
			col, fb, err := describeOrFallback(ctx, pool, *s.fallbacks.Load(), k)
			fromFallback = fb
			return col, err
		})
		if err != nil {
			return nil, err
		}
		s, err := validate.NewSchema(col.Schema, col.Partitions)
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", k, err)
		}
		return &schemaEntry{schema: s, real: col.CollectionName, props: col.Properties, size: int64(col.Size()), fallback: fromFallback}, nil
	}
	opts := fillOptions(cfg, 100_000, 256<<20, func(v any) int64 { return v.(*schemaEntry).size })
	shortTTL := fallbackTTL(cfg)
	opts.TTLOf = func(v any) time.Duration {
		if v.(*schemaEntry).fallback {
			return shortTTL
		}
		return 0
	}
	c, err := cache.NewSchemas(load, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	dbs, err := cache.NewSchemas(func(ctx context.Context, k cache.SchemaKey) (map[string]string, error) {
		return traceFill(s, ctx, k, "database", func(ctx context.Context) (map[string]string, error) {
			return pool.DescribeDatabase(ctx, k.Cluster, k.DB)
		})
	}, fillOptions(cfg, 10_000, 16<<20, func(v any) int64 {
		n := int64(64)
		for k, v := range v.(map[string]string) {
			n += int64(len(k)+len(v)) + 32
		}
		return n
	}))
	if err != nil {
		c.Close()
		pool.Close()
		return nil, err
	}
	s.c, s.dbs, s.pool = c, dbs, pool
	return s, nil
}

// fillOptions are the options of a cache filled from the backends: the
// validation section's TTLs, failure memory and fill budget.
func fillOptions(cfg *config.Config, entries, maxCost int64, cost func(any) int64) cache.SchemaOptions {
	return cache.SchemaOptions{
		MaxEntries:  entries,
		MaxCost:     maxCost,
		Cost:        cost,
		IsNotFound:  func(err error) bool { return errors.Is(err, backends.ErrNotFound) },
		TTL:         cfg.Validation.SchemaTTL.D(),
		NegativeTTL: cfg.Validation.NegativeTTL.D(),
		FailTTL:     cfg.Validation.FailureTTL.D(),
		MaxWait:     cfg.Validation.FillBudget.D(),
	}
}

// authOf returns each cluster's gRPC authorization value, for schema fills
// in either forwarding mode.
func authOf(cfg *config.Config) *map[string]string {
	out := make(map[string]string, len(cfg.Clusters))
	for _, cl := range cfg.Clusters {
		if a := cl.Credential.GRPCAuthorization(); a != "" {
			out[cl.Name] = a.Reveal()
		}
	}
	return &out
}

// targetsOf returns each cluster's endpoints and TLS, with the same files'
// contents (read by config.Validate) that Envoy gets.
func targetsOf(cfg *config.Config) map[string]backends.Target {
	out := make(map[string]backends.Target, len(cfg.Clusters))
	for _, cl := range cfg.Clusters {
		var t backends.Target
		for _, ep := range cl.Endpoints {
			t.Endpoints = append(t.Endpoints, ep.Address)
		}
		if cl.TLS != nil {
			cert, key := cl.TLS.ClientCert()
			t.TLS = &backends.TLS{ServerName: cl.TLSServerName(), CA: cl.TLS.CA(), Cert: cert, Key: []byte(key.Reveal())}
		}
		out[cl.Name] = t
	}
	return out
}

// Get implements extproc.Schemas.
func (s *SchemaStore) Get(ctx context.Context, cluster, db, collection string) (*validate.Schema, string, error) {
	e, err := s.c.Get(ctx, cache.SchemaKey{Cluster: cluster, DB: db, Collection: collection})
	if err != nil {
		if errors.Is(err, cache.ErrNotFound) {
			return nil, "", fmt.Errorf("%w: %w", extproc.ErrCollectionNotFound, err)
		}
		return nil, "", err
	}
	return e.schema, e.real, nil
}

// CollectionProperties returns a collection's Milvus properties, from the
// schema cache (filled as for validation).
func (s *SchemaStore) CollectionProperties(ctx context.Context, cluster, db, collection string) (map[string]string, error) {
	e, err := s.c.Get(ctx, cache.SchemaKey{Cluster: cluster, DB: db, Collection: collection})
	if err != nil {
		return nil, err
	}
	return e.props, nil
}

// DatabaseProperties returns a database's Milvus properties (cached like schemas).
func (s *SchemaStore) DatabaseProperties(ctx context.Context, cluster, db string) (map[string]string, error) {
	return s.dbs.Get(ctx, cache.SchemaKey{Cluster: cluster, DB: db})
}

// Invalidate implements extproc.Schemas.
func (s *SchemaStore) Invalidate(cluster, db, collection string) {
	s.c.Invalidate(cache.SchemaKey{Cluster: cluster, DB: db, Collection: collection})
	if s.hub != nil {
		s.hub.Invalidated(Invalidation{Cluster: cluster, DB: db, Collection: collection})
	}
}

// InvalidateDB implements extproc.Schemas.
func (s *SchemaStore) InvalidateDB(cluster, db string) {
	s.c.InvalidateDB(cluster, db)
	s.dbs.InvalidateDB(cluster, db)
	if s.hub != nil {
		s.hub.Invalidated(Invalidation{Cluster: cluster, DB: db})
	}
}

// InvalidateAll drops every entry.
func (s *SchemaStore) InvalidateAll() {
	s.c.InvalidateAll()
	s.dbs.InvalidateAll()
	if s.hub != nil {
		s.hub.Invalidated(Invalidation{All: true})
	}
}

// Stats reports hits, misses, fills and evictions.
func (s *SchemaStore) Stats() cache.SchemaStats { return s.c.Stats() }

// Update follows a config reload.
func (s *SchemaStore) Update(cfg *config.Config) {
	s.auth.Store(authOf(cfg))
	s.fallbacks.Store(fallbacksOf(cfg))
	s.targetsMu.Lock()
	defer s.targetsMu.Unlock()
	s.cfg = cfg
	s.updatePoolLocked()
}

// SetDiscovered makes the backend pool use discovered endpoints (as Envoy
// does) and applies them now; called again on every change.
func (s *SchemaStore) SetDiscovered(endpoints func(cluster string) ([]string, bool)) {
	s.targetsMu.Lock()
	defer s.targetsMu.Unlock()
	s.discovered = endpoints
	s.updatePoolLocked()
}

func (s *SchemaStore) updatePoolLocked() {
	t := targetsOf(s.cfg)
	if s.discovered != nil {
		found := map[string][]string{}
		for name, tt := range t {
			if eps, ok := s.discovered(name); ok {
				tt.Endpoints = eps
				t[name] = tt
				found[name] = eps
			}
		}
		if s.hub != nil {
			s.hub.Discovered(found)
		}
	}
	s.pool.Update(t)
}

// Close stops the cache and closes backend connections.
func (s *SchemaStore) Close() {
	s.c.Close()
	s.dbs.Close()
	s.pool.Close()
}
