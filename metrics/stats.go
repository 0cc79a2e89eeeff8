package metrics

import (
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SchemaStats are the schema cache's counts (cache.SchemaStats).
type SchemaStats struct {
	Hits, FailHits, Misses, Fills, FillErrors, Evictions, Invalidations uint64
}

// GuardStats are the login guard's counts (authz.GuardStats).
type GuardStats struct {
	Checked, Throttled, Failed uint64
}

// PolicyStats are the policy engine's state and counts.
type PolicyStats struct {
	Version, Source string
	LoadedAt        time.Time
	LastLoadFailed  bool
	LoadErrors      uint64
	// CacheOn says the decision cache is on; CacheHits and CacheMisses
	// count its lookups.
	CacheOn                bool
	CacheHits, CacheMisses uint64
}

// RateCount is one level's count of the rate limiter (ratelimit.Count).
type RateCount struct {
	Scope, RateType   string
	Admitted, Refused uint64
}

// RateCall is the per-call count of one rate type (ratelimit.CallCount).
type RateCall struct {
	RateType          string
	Admitted, Refused uint64
}

// XDSStats are the control plane's counts (xds/server Counts and Synced).
type XDSStats struct {
	Snapshots uint64
	Synced    bool
	// Types are keyed by resource type URL.
	Types map[string]XDSTypeCounts
}

// XDSTypeCounts are one resource type's responses, ACKs and NACKs.
type XDSTypeCounts struct {
	Responses, ACKs, NACKs uint64
}

// Endpoint is one backend endpoint and the weight pushed for it.
type Endpoint struct {
	Cluster, Address string
	Weight           uint32
	// ProbeSeconds is the probe latency's moving average; 0 for none yet.
	ProbeSeconds float64
}

// Sources are the components' counters, read at each scrape. A nil func
// contributes nothing.
type Sources struct {
	Schemas            func() SchemaStats
	Guard              func() (GuardStats, bool)
	DecisionLogDropped func() uint64
	DryRuns            func() uint64
	Policy             func() PolicyStats
	RateLimits         func() []RateCount
	RateCalls          func() []RateCall
	XDS                func() XDSStats
	Endpoints          func() []Endpoint
}

// Stats exports Sources as milvus_edge_* (and Milvus's cache and rate-limit
// counters under their milvus_proxy_* names). It is a prometheus.Collector
// that does no work between scrapes.
type Stats struct {
	node string
	src  Sources
}

// NewStats returns the collector for the edge nodeID (the node_id label of
// the milvus_proxy_* metrics).
func NewStats(nodeID string, src Sources) *Stats { return &Stats{node: nodeID, src: src} }

func edgeDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("milvus_edge_"+name, help, labels, nil)
}

var (
	descCacheHit = prometheus.NewDesc("milvus_proxy_cache_hit_count", "count of cache hits/miss (the edge's schema cache)",
		[]string{"node_id", "cache_name", "cache_state"}, nil)
	descRateLimitReq = prometheus.NewDesc("milvus_proxy_rate_limit_req_count", "count of operation executed (calls the edge's rate limiter checked)",
		[]string{"node_id", "msg_type", "status"}, nil)

	descSchema        = edgeDesc("schema_cache_events_total", "schema cache events: hit, fail_hit (a remembered fill failure), miss, fill, fill_error, eviction, invalidation", "event")
	descLogin         = edgeDesc("login_checks_total", "password checks of the login guard: checked (bcrypt ran), failed (of those checked), throttled (refused by a back-off without a check)", "result")
	descDecisionDrops = edgeDesc("decision_log_dropped_total", "decision log records dropped (queue full)")
	descDryRun        = edgeDesc("authz_dry_run_allowed_total", "denials auth.dry_run let through (also counted as allow in milvus_edge_authz_decisions_total)")
	descPolicyInfo    = edgeDesc("policy_bundle_info", "the running policy bundle (value 1)", "version", "source")
	descPolicyLoaded  = edgeDesc("policy_bundle_loaded_timestamp_seconds", "when the running policy bundle was published")
	descPolicyFailed  = edgeDesc("policy_last_load_failed", "1 when the last load of the policy bundle was refused (the previous one keeps deciding)")
	descPolicyErrors  = edgeDesc("policy_load_errors_total", "policy bundle loads refused")
	descDecisionCache = edgeDesc("policy_decision_cache_lookups_total", "decision cache lookups, by result (hit, miss)", "result")
	descRateChecks    = edgeDesc("rate_limit_checks_total", "rate limiter outcomes per level: a call admitted counts at every level that limited it, a refused one at the level that refused it", "scope", "rate_type", "result")
	descXDSSnapshots  = edgeDesc("xds_snapshots_total", "xDS snapshots set (config changes pushed)")
	descXDSResponses  = edgeDesc("xds_responses_total", "xDS responses sent to Envoy, by resource type", "type")
	descXDSAcks       = edgeDesc("xds_acks_total", "xDS responses Envoy accepted, by resource type", "type")
	descXDSNacks      = edgeDesc("xds_nacks_total", "xDS responses Envoy rejected, by resource type", "type")
	descXDSSynced     = edgeDesc("xds_synced", "1 when Envoy has ACKed the current snapshot for every resource type")
	descWeight        = edgeDesc("endpoint_weight", "load-balancing weight the control plane pushes for a backend endpoint", "cluster", "endpoint")
	descProbeLatency  = edgeDesc("endpoint_probe_latency_seconds", "moving average of the control plane's probe (CheckHealth) latency to a backend endpoint", "cluster", "endpoint")

	allDescs = []*prometheus.Desc{descCacheHit, descRateLimitReq, descSchema, descLogin, descDecisionDrops, descDryRun,
		descPolicyInfo, descPolicyLoaded, descPolicyFailed, descPolicyErrors, descDecisionCache, descRateChecks,
		descXDSSnapshots, descXDSResponses, descXDSAcks, descXDSNacks, descXDSSynced, descWeight, descProbeLatency}
)

// Describe implements prometheus.Collector.
func (s *Stats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Stats) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if f := s.src.Schemas; f != nil {
		st := f()
		// Milvus's meta cache counts a lookup as hit or miss; cache_name as
		// Milvus's meta cache names its schema lookups.
		counter(descCacheHit, st.Hits, s.node, "GetCollectionSchema", "hit")
		counter(descCacheHit, st.Misses, s.node, "GetCollectionSchema", "miss")
		for _, e := range []struct {
			name string
			v    uint64
		}{{"hit", st.Hits}, {"fail_hit", st.FailHits}, {"miss", st.Misses}, {"fill", st.Fills}, {"fill_error", st.FillErrors},
			{"eviction", st.Evictions}, {"invalidation", st.Invalidations}} {
			counter(descSchema, e.v, e.name)
		}
	}
	if f := s.src.Guard; f != nil {
		if g, ok := f(); ok {
			counter(descLogin, g.Checked, "checked")
			counter(descLogin, g.Failed, "failed")
			counter(descLogin, g.Throttled, "throttled")
		}
	}
	if f := s.src.DecisionLogDropped; f != nil {
		counter(descDecisionDrops, f())
	}
	if f := s.src.DryRuns; f != nil {
		counter(descDryRun, f())
	}
	if f := s.src.Policy; f != nil {
		s.collectPolicy(f(), counter, gauge)
	}
	if f := s.src.RateCalls; f != nil {
		for _, c := range f() {
			counter(descRateLimitReq, c.Admitted+c.Refused, s.node, c.RateType, StatusTotal)
			counter(descRateLimitReq, c.Admitted, s.node, c.RateType, StatusSuccess)
			counter(descRateLimitReq, c.Refused, s.node, c.RateType, StatusFail)
		}
	}
	if f := s.src.RateLimits; f != nil {
		for _, c := range f() {
			counter(descRateChecks, c.Admitted, c.Scope, c.RateType, "admitted")
			counter(descRateChecks, c.Refused, c.Scope, c.RateType, "refused")
		}
	}
	if f := s.src.XDS; f != nil {
		s.collectXDS(f(), counter, gauge)
	}
	if f := s.src.Endpoints; f != nil {
		seen := map[[2]string]bool{}
		for _, e := range f() {
			// A config may list an address twice; one series each.
			if k := [2]string{e.Cluster, e.Address}; !seen[k] {
				seen[k] = true
				gauge(descWeight, float64(e.Weight), e.Cluster, e.Address)
				if e.ProbeSeconds > 0 {
					gauge(descProbeLatency, e.ProbeSeconds, e.Cluster, e.Address)
				}
			}
		}
	}
}

type (
	counterFunc func(d *prometheus.Desc, v uint64, labels ...string)
	gaugeFunc   func(d *prometheus.Desc, v float64, labels ...string)
)

func (s *Stats) collectPolicy(p PolicyStats, counter counterFunc, gauge gaugeFunc) {
	if p.Version != "" {
		gauge(descPolicyInfo, 1, p.Version, p.Source)
		gauge(descPolicyLoaded, float64(p.LoadedAt.UnixMilli())/1000)
	}
	failed := 0.0
	if p.LastLoadFailed {
		failed = 1
	}
	gauge(descPolicyFailed, failed)
	counter(descPolicyErrors, p.LoadErrors)
	if p.CacheOn {
		counter(descDecisionCache, p.CacheHits, "hit")
		counter(descDecisionCache, p.CacheMisses, "miss")
	}
}

func (s *Stats) collectXDS(x XDSStats, counter counterFunc, gauge gaugeFunc) {
	counter(descXDSSnapshots, x.Snapshots)
	synced := 0.0
	if x.Synced {
		synced = 1
	}
	gauge(descXDSSynced, synced)
	urls := make([]string, 0, len(x.Types))
	for u := range x.Types {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	for _, u := range urls {
		t, name := x.Types[u], typeName(u)
		counter(descXDSResponses, t.Responses, name)
		counter(descXDSAcks, t.ACKs, name)
		counter(descXDSNacks, t.NACKs, name)
	}
}

// typeName shortens an xDS type URL to the resource's name:
// "type.googleapis.com/envoy.config.listener.v3.Listener" → "Listener".
func typeName(url string) string {
	if i := strings.LastIndexByte(url, '.'); i >= 0 {
		return url[i+1:]
	}
	return url
}
