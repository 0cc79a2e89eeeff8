package policy

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Options configure an Engine.
type Options struct {
	// Dir is the bundle folder. Default "": the bundle embedded in the
	// binary (policy/bundle), which Watch leaves alone.
	Dir string
	// DecisionCacheTTL is how long a decision is served from the cache for
	// Eval calls that pass a cache key. Default 0: no cache.
	DecisionCacheTTL time.Duration
	// Now is the clock for LoadedAt, cache expiry and Rego's time builtins.
	// Default time.Now.
	Now func() time.Time
}

// Status describes the running bundle and the last load attempt.
type Status struct {
	// Version is the running bundle's content hash; "" before the first load.
	Version string
	// LoadedAt is when the running version was published.
	LoadedAt time.Time
	// LastError is the last failed load's error; "" once a load succeeds.
	LastError string
	// Source is the bundle folder, or "embedded".
	Source string
	// Reads is what the running bundle's decision reads of the input
	// ("input.identity.user, input.milvus.db, ..."; "input" for all of it):
	// the edge builds only that, and caches decisions by its values.
	Reads string `json:",omitempty"`
	// Cacheable says the running bundle's decisions may be cached: they read
	// parts of the input, not all of it, and call no non-deterministic
	// built-in (time, http.send, random).
	Cacheable bool
	// LoadErrors counts the loads refused since the start.
	LoadErrors uint64
}

// Engine evaluates the current bundle and replaces it on Load. Eval is safe
// for concurrent use with Load and Watch.
type Engine struct {
	log    *slog.Logger
	dir    string
	source string
	now    func() time.Time
	clock  bool           // Now was injected: evaluate with it too
	cache  *decisionCache // nil when off

	current atomic.Pointer[Bundle]

	// loadMu serialises Load, so versions are published in the order read.
	loadMu sync.Mutex

	// mu guards status.
	mu     sync.Mutex
	status Status
}

// sourceEmbedded is Status.Source for the embedded bundle.
const sourceEmbedded = "embedded"

// NewEngine returns an engine with no bundle: call Load before Eval.
func NewEngine(log *slog.Logger, o Options) *Engine {
	e := &Engine{
		log:    log.With("component", "policy"),
		dir:    o.Dir,
		source: o.Dir,
		now:    o.Now,
		clock:  o.Now != nil,
	}
	if e.source == "" {
		e.source = sourceEmbedded
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.status.Source = e.source
	if o.DecisionCacheTTL > 0 {
		c, err := newDecisionCache(o.DecisionCacheTTL, e.now)
		if err != nil {
			// Only a bad constant can get here; run uncached rather than not at all.
			e.log.Error("decision cache disabled", "error", err)
		}
		e.cache = c
	}
	return e
}

// Close stops the decision cache's goroutines. The engine still evaluates
// afterwards, every call a cache miss.
func (e *Engine) Close() {
	if e.cache != nil {
		e.cache.close()
	}
}

// Load reads the bundle, compiles it, prepares the decision query, runs the
// bundle's Rego tests and validates data.milvus; only if all succeed does it
// publish the new version. On error the running version stays, and the
// error is recorded in Status. Loading the running version again is a no-op.
func (e *Engine) Load(ctx context.Context) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	s, err := e.snapshot()
	if err == nil {
		err = e.load(ctx, s)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.status.LastError = err.Error()
		e.status.LoadErrors++
		return err
	}
	e.status.LastError = ""
	if cur := e.current.Load(); cur.Version != e.status.Version {
		e.status.Version, e.status.LoadedAt = cur.Version, e.now()
		e.status.Reads, e.status.Cacheable = cur.Input.String(), cur.cacheable
	}
	return nil
}

func (e *Engine) load(ctx context.Context, s *snapshot) error {
	if cur := e.current.Load(); cur != nil && cur.Version == s.version {
		return nil
	}
	c, err := build(ctx, s)
	if err != nil {
		return loadError(s, err)
	}
	e.current.Store(c.bundle)
	return nil
}

// snapshot reads the configured bundle into memory.
func (e *Engine) snapshot() (*snapshot, error) {
	if e.dir == "" {
		fsys, err := fs.Sub(embedded, "bundle")
		if err != nil {
			return nil, fmt.Errorf("embedded bundle: %w", err)
		}
		return readSnapshot(fsys, sourceEmbedded)
	}
	return readSnapshot(os.DirFS(e.dir), e.dir)
}

// Current returns the running bundle, nil before the first successful Load.
// Pass it to Eval; a request keeps the bundle it started with across reloads.
func (e *Engine) Current() *Bundle { return e.current.Load() }

// Status reports the running version and the last load's outcome.
func (e *Engine) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// CacheStats are the decision cache's lookups: served from the cache, or
// evaluated (a cacheable call not found, or expired).
type CacheStats struct {
	On           bool
	Hits, Misses uint64
}

// CacheStats returns the decision cache's counts.
func (e *Engine) CacheStats() CacheStats {
	if e.cache == nil {
		return CacheStats{}
	}
	return CacheStats{On: true, Hits: e.cache.hits.Load(), Misses: e.cache.misses.Load()}
}

// Eval evaluates data.milvus.authz.decision of bundle b for input, built
// straight as an ast.Value (no JSON round trip). An undefined decision is a
// denial; a decision of the wrong shape is an error wrapping
// ErrMalformedDecision. With the cache on and a non-empty cacheKey, the
// decision for (b.Version, cacheKey) is served from the cache: the key must
// therefore capture everything in input that the policy reads.
func (e *Engine) Eval(ctx context.Context, b *Bundle, input ast.Value, cacheKey string) (Decision, error) {
	if b == nil {
		return Decision{}, ErrNoBundle
	}
	var key string
	if e.cache != nil && cacheKey != "" {
		key = cacheKeyOf(b.Version, cacheKey)
		if d, ok := e.cache.get(key); ok {
			return d, nil
		}
	}
	var rs rego.ResultSet
	var err error
	if e.clock {
		rs, err = b.query.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(e.now()))
	} else {
		rs, err = b.query.Eval(ctx, rego.EvalParsedInput(input))
	}
	if err != nil {
		return Decision{}, fmt.Errorf("evaluating %s (version %s): %w", DecisionQuery, b.Version, err)
	}
	d, err := decodeDecision(rs)
	if err != nil {
		return Decision{}, fmt.Errorf("policy version %s: %w", b.Version, err)
	}
	if key != "" {
		e.cache.set(key, d)
	}
	return d, nil
}
