package config

import (
	"fmt"
	"time"
)

// Failover is a route's fallback cluster (docs/failover.md). It is inlined
// in Route: routes[].fallback and routes[].fallback_writes.
type Failover struct {
	// Fallback names a cluster that takes the route's reads (Search, Query,
	// Describe*, …; see docs/failover.md for the table) when every endpoint
	// of the route's cluster is unhealthy (Envoy's active health checks or
	// outlier detection). Needs cluster (not weighted); must differ from it
	// and serve REST as it does; neither may forward in service mode (see
	// docs/failover.md). Outlier ejection may then take every endpoint of
	// cluster (its health.max_ejection_percent is taken as 100), so that
	// reads leave a dead primary after a few failed calls. Default none.
	Fallback string `yaml:"fallback"`
	// FallbackWrites sends writes, DDL and every other call to the fallback
	// too. Off by default: a fallback cluster may hold different data (a
	// replica that lags, another region), so by default writes stay on the
	// primary and fail with UNAVAILABLE while it is down, which Milvus
	// clients retry. Default false.
	FallbackWrites bool `yaml:"fallback_writes"`
}

// Retries is how Envoy retries calls on another endpoint (docs/failover.md).
// Writes, DDL and every other call are retried only when the backend surely
// never saw them (connect failure, refused stream, reset before the request
// was sent), up to twice; this block sets what reads may do beyond that.
type Retries struct {
	// Reads is how many times a read is retried on another endpoint after a
	// reset, a connect failure or an UNAVAILABLE answer: 0 or 1. Default 1.
	Reads *uint32 `yaml:"reads"`
	// ReadPerTryTimeout is how long one try of a read may stay without an
	// answer before a second try goes to another endpoint. The first try is
	// not cancelled (a hedged retry: the first answer wins), so a legitimate
	// long search is never cut, only doubled past this time; a client's
	// grpc-timeout still bounds the whole call. 0 turns it off. Default 0s
	// (off): Envoy records a try past its per-try timeout as a gateway error
	// for outlier detection even when its answer comes later, so slow but
	// healthy reads (heavy searches) could eject healthy endpoints; set it
	// well above the longest expected read.
	ReadPerTryTimeout *Duration `yaml:"read_per_try_timeout"`
}

// ReadRetries reports retries.reads (default 1).
func (r Retries) ReadRetries() uint32 {
	if r.Reads == nil {
		return 1
	}
	return *r.Reads
}

// PerTryTimeout reports retries.read_per_try_timeout (default 0: off).
func (r Retries) PerTryTimeout() time.Duration {
	if r.ReadPerTryTimeout == nil {
		return 0
	}
	return r.ReadPerTryTimeout.D()
}

// validateFailover checks retries and every route's fallback.
func validateFailover(bad badFunc, c *Config) {
	if n := c.Retries.ReadRetries(); n > 1 {
		bad("retries.reads", "must be 0 or 1, got %d", n)
	}
	if d := c.Retries.PerTryTimeout(); d < 0 || (d > 0 && d < 10*time.Millisecond) {
		bad("retries.read_per_try_timeout", "must be 0 (off) or at least 10ms, got %s", d)
	}
	rest, service := map[string]bool{}, map[string]bool{}
	for _, cl := range c.Clusters {
		rest[cl.Name] = cl.ServesREST()
		service[cl.Name] = cl.Forward == ForwardService
	}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if r.Fallback == "" {
			if r.FallbackWrites {
				bad(p+".fallback_writes", "needs fallback")
			}
			continue
		}
		fr, ok := rest[r.Fallback]
		switch {
		case !ok:
			bad(p+".fallback", "no cluster named %q", r.Fallback)
		case len(r.Weighted) > 0:
			bad(p+".fallback", "not with weighted: a fallback backs one cluster (set cluster)")
		case r.Fallback == r.Cluster:
			bad(p+".fallback", "must differ from cluster %q", r.Cluster)
		case r.Cluster != "" && rest[r.Cluster] != fr:
			bad(p+".fallback", "cluster %q and fallback %q must both serve REST or both not (clusters[].rest)", r.Cluster, r.Fallback)
		case service[r.Cluster] || service[r.Fallback]:
			// The credential travels in the cluster's upstream HTTP filters,
			// which Envoy does not run for calls routed to an aggregate
			// cluster (envoyproxy/envoy#29318): the backend would get the
			// client's authorization instead.
			bad(p+".fallback", "not with forward: service on %q or %q: Envoy's aggregate cluster skips the clusters' upstream filters that send the service credential", r.Cluster, r.Fallback)
		}
	}
}
