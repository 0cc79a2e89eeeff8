package app

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/milvus-edge/milvus-edge/metrics"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// envoyStatsTimeout bounds the read of Envoy's stats at a scrape of GET
// /metrics: Prometheus's own scrape timeout is 10 s by default, and an
// Envoy slower than this leaves the per-call metrics out of that scrape
// rather than failing it.
const envoyStatsTimeout = 2 * time.Second

// metricsHandler serves GET /metrics from a registry of its own (not the
// process-global default): the per-call metrics read from Envoy's stats
// (metrics.Calls), the filters' timings, the components' counters read at
// each scrape, and the Go runtime's and the process's.
func metricsHandler(st *reloadState, xds *xdsserver.Server, f *Filters) http.Handler {
	st.mu.Lock()
	node := st.cfg.Envoy.NodeID
	st.mu.Unlock()
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.Calls, f.Timing, metrics.NewStats(node, metricSources(st, xds, f)),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var g prometheus.Gatherer = reg
	if f.hub != nil {
		// The in-process module's counters (its checks, caches, limiter),
		// added into the edge's (modulemetrics.go, metricsmerge.go).
		g = mergedGatherer{own: reg, module: f.hub}
	}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// metricSources reads the components' counters for metrics.Stats.
func metricSources(st *reloadState, xds *xdsserver.Server, f *Filters) metrics.Sources {
	src := filterSources(f)
	src.XDS = func() metrics.XDSStats {
		c := xds.Counts()
		out := metrics.XDSStats{Snapshots: c.Snapshots, Synced: xds.Synced(), Types: map[string]metrics.XDSTypeCounts{}}
		for t, n := range c.Types {
			out.Types[t] = metrics.XDSTypeCounts{Responses: n.Responses, ACKs: n.ACKs, NACKs: n.NACKs}
		}
		return out
	}
	// The weights pushed now: the config's, moved by the balancer
	// (probes, overrides) and, for discovered clusters, discovery's.
	src.Endpoints = func() []metrics.Endpoint {
		var out []metrics.Endpoint
		for _, c := range f.Balance.Clusters() {
			for _, e := range c.Endpoints {
				out = append(out, metrics.Endpoint{Cluster: c.Name, Address: e.Address, Weight: e.Weight, ProbeSeconds: e.Probe.LatencyMS / 1000})
			}
		}
		return out
	}
	return src
}

// filterSources reads the filters' own counters: the edge's, or the
// in-process module's.
func filterSources(f *Filters) metrics.Sources {
	return metrics.Sources{
		Schemas: func() metrics.SchemaStats {
			s := f.Schemas.Stats()
			return metrics.SchemaStats{Hits: s.Hits, FailHits: s.FailHits, Misses: s.Misses, Fills: s.Fills,
				FillErrors: s.FillErrors, Evictions: s.Evictions, Invalidations: s.Invalidations}
		},
		Guard: func() (metrics.GuardStats, bool) {
			g := f.authn.Guard()
			if g == nil {
				return metrics.GuardStats{}, false
			}
			s := g.Stats()
			return metrics.GuardStats{Checked: s.Checked, Throttled: s.Throttled, Failed: s.Failed}, true
		},
		DecisionLogDropped: f.dlog.Dropped,
		DryRuns:            f.Authz.DryRuns,
		Policy: func() metrics.PolicyStats {
			s, c := f.Policy.Status(), f.Policy.CacheStats()
			return metrics.PolicyStats{Version: s.Version, Source: s.Source, LoadedAt: s.LoadedAt, LastLoadFailed: s.LastError != "",
				LoadErrors: s.LoadErrors, CacheOn: c.On, CacheHits: c.Hits, CacheMisses: c.Misses}
		},
		RateLimits: func() []metrics.RateCount {
			var out []metrics.RateCount
			for _, c := range f.Limits.Limiter.Stats() {
				out = append(out, metrics.RateCount{Scope: c.Scope, RateType: c.RateType, Admitted: c.Admitted, Refused: c.Refused})
			}
			return out
		},
		RateCalls: func() []metrics.RateCall {
			var out []metrics.RateCall
			for _, c := range f.Limits.Limiter.CallStats() {
				out = append(out, metrics.RateCall{RateType: c.RateType, Admitted: c.Admitted, Refused: c.Refused})
			}
			return out
		},
	}
}
