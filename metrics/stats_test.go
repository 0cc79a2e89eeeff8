package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestStats reads fixed sources and compares the exposition.
func TestStats(t *testing.T) {
	s := NewStats("n1", Sources{
		Schemas: func() SchemaStats { return SchemaStats{Hits: 7, Misses: 2, Fills: 2, FillErrors: 1} },
		Guard:   func() (GuardStats, bool) { return GuardStats{Checked: 5, Failed: 2, Throttled: 1}, true },
		Policy: func() PolicyStats {
			return PolicyStats{Version: "abc", Source: "embedded", LoadedAt: time.Unix(1700000000, 0), LoadErrors: 1,
				CacheOn: true, CacheHits: 9, CacheMisses: 3}
		},
		RateCalls: func() []RateCall { return []RateCall{{RateType: "DQLSearch", Admitted: 4, Refused: 1}} },
		XDS: func() XDSStats {
			return XDSStats{Snapshots: 2, Synced: true, Types: map[string]XDSTypeCounts{
				"type.googleapis.com/envoy.config.listener.v3.Listener":        {Responses: 2, ACKs: 2},
				"type.googleapis.com/envoy.config.route.v3.RouteConfiguration": {Responses: 2, ACKs: 1, NACKs: 1},
			}}
		},
		Endpoints: func() []Endpoint {
			return []Endpoint{{"a", "10.0.0.1:19530", 3, 0.0012}, {"a", "10.0.0.2:19530", 1, 0}, {"a", "10.0.0.1:19530", 3, 0.0012}}
		},
	})
	const want = `
# HELP milvus_edge_endpoint_weight load-balancing weight the control plane pushes for a backend endpoint
# TYPE milvus_edge_endpoint_weight gauge
milvus_edge_endpoint_weight{cluster="a",endpoint="10.0.0.1:19530"} 3
milvus_edge_endpoint_weight{cluster="a",endpoint="10.0.0.2:19530"} 1
# HELP milvus_edge_endpoint_probe_latency_seconds moving average of the control plane's probe (CheckHealth) latency to a backend endpoint
# TYPE milvus_edge_endpoint_probe_latency_seconds gauge
milvus_edge_endpoint_probe_latency_seconds{cluster="a",endpoint="10.0.0.1:19530"} 0.0012
# HELP milvus_edge_login_checks_total password checks of the login guard: checked (bcrypt ran), failed (of those checked), throttled (refused by a back-off without a check)
# TYPE milvus_edge_login_checks_total counter
milvus_edge_login_checks_total{result="checked"} 5
milvus_edge_login_checks_total{result="failed"} 2
milvus_edge_login_checks_total{result="throttled"} 1
# HELP milvus_edge_policy_bundle_info the running policy bundle (value 1)
# TYPE milvus_edge_policy_bundle_info gauge
milvus_edge_policy_bundle_info{source="embedded",version="abc"} 1
# HELP milvus_edge_policy_decision_cache_lookups_total decision cache lookups, by result (hit, miss)
# TYPE milvus_edge_policy_decision_cache_lookups_total counter
milvus_edge_policy_decision_cache_lookups_total{result="hit"} 9
milvus_edge_policy_decision_cache_lookups_total{result="miss"} 3
# HELP milvus_edge_policy_load_errors_total policy bundle loads refused
# TYPE milvus_edge_policy_load_errors_total counter
milvus_edge_policy_load_errors_total 1
# HELP milvus_edge_xds_nacks_total xDS responses Envoy rejected, by resource type
# TYPE milvus_edge_xds_nacks_total counter
milvus_edge_xds_nacks_total{type="Listener"} 0
milvus_edge_xds_nacks_total{type="RouteConfiguration"} 1
# HELP milvus_proxy_cache_hit_count count of cache hits/miss (the edge's schema cache)
# TYPE milvus_proxy_cache_hit_count counter
milvus_proxy_cache_hit_count{cache_name="GetCollectionSchema",cache_state="hit",node_id="n1"} 7
milvus_proxy_cache_hit_count{cache_name="GetCollectionSchema",cache_state="miss",node_id="n1"} 2
# HELP milvus_proxy_rate_limit_req_count count of operation executed (calls the edge's rate limiter checked)
# TYPE milvus_proxy_rate_limit_req_count counter
milvus_proxy_rate_limit_req_count{msg_type="DQLSearch",node_id="n1",status="fail"} 1
milvus_proxy_rate_limit_req_count{msg_type="DQLSearch",node_id="n1",status="success"} 4
milvus_proxy_rate_limit_req_count{msg_type="DQLSearch",node_id="n1",status="total"} 5
`
	names := []string{"milvus_edge_endpoint_weight", "milvus_edge_login_checks_total", "milvus_edge_policy_bundle_info",
		"milvus_edge_policy_decision_cache_lookups_total", "milvus_edge_policy_load_errors_total", "milvus_edge_xds_nacks_total",
		"milvus_proxy_cache_hit_count", "milvus_proxy_rate_limit_req_count"}
	if err := testutil.CollectAndCompare(s, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	lint(t, s)
}

// TestStatsNilSources: a collector without sources exports nothing and
// does not fail.
func TestStatsNilSources(t *testing.T) {
	if n, err := testutil.GatherAndCount(registryOf(t, NewStats("n1", Sources{}))); err != nil || n != 0 {
		t.Fatalf("%d series, %v", n, err)
	}
}
