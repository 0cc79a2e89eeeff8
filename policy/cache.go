package policy

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// decisionCacheEntries bounds the decision cache (cost 1 per decision).
const decisionCacheEntries = 1 << 16

// decisionCache remembers decisions by (bundle version, caller's key). The
// version in the key means a reload makes every old decision unreachable;
// ristretto evicts them. Expiry is checked against the injected clock, and
// ristretto's own TTL only reclaims memory.
type decisionCache struct {
	c   *ristretto.Cache[string, cachedDecision]
	ttl time.Duration
	now func() time.Time

	hits, misses atomic.Uint64
}

// cachedDecision is a decision and the time it stops being served.
type cachedDecision struct {
	d       Decision
	expires time.Time
}

func newDecisionCache(ttl time.Duration, now func() time.Time) (*decisionCache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, cachedDecision]{
		NumCounters:        decisionCacheEntries * 10,
		MaxCost:            decisionCacheEntries,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost counts entries, not bytes
	})
	if err != nil {
		return nil, fmt.Errorf("decision cache: %w", err)
	}
	return &decisionCache{c: c, ttl: ttl, now: now}, nil
}

// cacheKey joins a bundle version and the caller's key.
func cacheKeyOf(version, key string) string { return version + "\x00" + key }

func (c *decisionCache) get(key string) (Decision, bool) {
	e, ok := c.c.Get(key)
	if !ok || !c.now().Before(e.expires) {
		c.misses.Add(1)
		return Decision{}, false
	}
	c.hits.Add(1)
	return e.d, true
}

// set stores a decision. Ristretto applies sets asynchronously and may
// drop them under contention: a lost set is only a later miss.
func (c *decisionCache) set(key string, d Decision) {
	c.c.SetWithTTL(key, cachedDecision{d: d, expires: c.now().Add(c.ttl)}, 1, c.ttl)
}

// wait blocks until pending sets are applied (tests).
func (c *decisionCache) wait() { c.c.Wait() }

func (c *decisionCache) close() { c.c.Close() }
