// Package metrics is the edge's Prometheus metrics. Calls serves every call
// Envoy served under the Milvus Proxy's metric names and labels
// (milvus_proxy_*), so that the Proxy panels of Milvus's dashboards work
// unchanged; it builds them at each scrape from the stats the edge's C
// module counts inside Envoy (envoystats.go). Filters times the edge's
// ext_authz and ext_proc calls. Stats reads the components' own counters at
// each scrape (milvus_edge_*). docs/metrics.md lists every metric.
package metrics

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// Milvus's req_count status values (pkg/metrics: TotalLabel, SuccessLabel,
// FailLabel): every call counts once as total and once as success or fail.
const (
	StatusTotal   = "total"
	StatusSuccess = "success"
	StatusFail    = "fail"
)

// milvusBuckets are Milvus's latency buckets in milliseconds (pkg/metrics:
// prometheus.ExponentialBuckets(1, 2, 18), 1 ms .. 131072 ms). The Envoy
// bootstrap gives the module's call_duration_us the same bounds in µs.
var milvusBuckets = prometheus.ExponentialBuckets(1, 2, 18)

// msgTypes are Milvus's msg_type values of milvus_proxy_receive_bytes_count
// (pkg/metrics InsertLabel, ...), by function.
var msgTypes = map[string]string{
	"Insert": "insert", "Upsert": "upsert", "Delete": "delete",
	"Search": "search", "HybridSearch": "hybrid_search", "Query": "query",
}

// warnEvery spaces the warnings of failed reads of Envoy's stats.
const warnEvery = time.Minute

// Calls is the per-call metrics: a prometheus.Collector that reads the
// module's cumulative stats from Envoy at each Collect and serves them as
// the Milvus Proxy's families. A failed read serves no call families for
// that scrape (and warns at most once a minute).
type Calls struct {
	off   atomic.Bool // metrics.enabled is false: no read, no families
	node  string
	colls *collections
	users *users
	envoy *EnvoyStats
	log   *slog.Logger
	now   func() time.Time
	// warned is when the last failed read was logged (UnixNano).
	warned atomic.Int64

	reqCount, reqLatency, recvBytes, sendBytes           *prometheus.Desc
	searchVectors, insertVectors, upsertVectors, userRPC *prometheus.Desc
	restCount, restLatency, restRecv, restSend, refusals *prometheus.Desc
}

// NewCalls returns the call metrics of the edge nodeID (the node_id label),
// read from envoy, with at most maxCollections (db_name, collection_name)
// label pairs.
func NewCalls(log *slog.Logger, nodeID string, maxCollections int, envoy *EnvoyStats) *Calls {
	proxy := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("milvus_proxy_"+name, help, labels, nil)
	}
	return &Calls{
		node: nodeID, colls: newCollections(maxCollections), users: newUsers(maxUsers), envoy: envoy, log: log, now: time.Now,

		reqCount: proxy("req_count", "count of operation executed (every call through the edge, refusals included)",
			"node_id", "function_name", "status", "db_name", "collection_name"),
		reqLatency: proxy("req_latency", "latency of each successful request, in ms, from the first byte received to the last sent",
			"node_id", "function_name"),
		recvBytes: proxy("receive_bytes_count", "count of bytes received from sdk (request bodies of DML and DQL calls)",
			"node_id", "msg_type", "db_name", "collection_name"),
		sendBytes:     proxy("send_bytes_count", "count of bytes sent back to sdk (response bodies of successful searches and queries)", "node_id"),
		searchVectors: proxy("search_vectors_count", "counter of vectors successfully searched (nq)", "node_id", "db_name", "collection_name"),
		insertVectors: proxy("insert_vectors_count", "counter of vectors successfully inserted (num_rows)", "node_id", "db_name", "collection_name"),
		upsertVectors: proxy("upsert_vectors_count", "counter of vectors successfully upserted (num_rows)", "node_id", "db_name", "collection_name"),
		userRPC:       proxy("user_rpc_count", "the rpc count of a user (authenticated calls)", "username"),
		restCount:     proxy("restful_api_req_count", "count of REST v2 calls", "node_id", "path"),
		restLatency:   proxy("restful_api_req_latency", "latency of each REST v2 call, in ms", "node_id", "path"),
		restRecv:      proxy("restful_api_receive_bytes_count", "count of REST v2 request body bytes", "node_id", "path"),
		restSend:      proxy("restful_api_send_bytes_count", "count of REST v2 response body bytes", "node_id", "path"),
		refusals: prometheus.NewDesc("milvus_edge_refusals_total",
			"calls the edge answered itself instead of the backend, by who refused them (auth, policy, rate_limit, validation)", []string{"by"}, nil),
	}
}

// SetMaxCollections changes the cap on (db_name, collection_name) pairs;
// pairs already labelled keep their names.
func (c *Calls) SetMaxCollections(n int) { c.colls.max.Store(int64(n)) }

// SetEnabled turns the call families on or off (metrics.enabled).
func (c *Calls) SetEnabled(on bool) { c.off.Store(!on) }

// Describe implements prometheus.Collector.
func (c *Calls) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reqCount, c.reqLatency, c.recvBytes, c.sendBytes, c.searchVectors, c.insertVectors,
		c.upsertVectors, c.userRPC, c.restCount, c.restLatency, c.restRecv, c.restSend, c.refusals} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one read of Envoy's stats.
func (c *Calls) Collect(ch chan<- prometheus.Metric) {
	if c.off.Load() || c.envoy == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.envoy.client.Timeout)
	defer cancel()
	raw, err := c.envoy.read(ctx)
	if err != nil {
		c.warn(err)
		return
	}
	c.sum(raw).collect(c, ch)
}

// warn logs a failed read, at most once per warnEvery.
func (c *Calls) warn(err error) {
	now, last := c.now().UnixNano(), c.warned.Load()
	if last != 0 && now-last < int64(warnEvery) || !c.warned.CompareAndSwap(last, now) {
		return
	}
	c.log.Warn("no per-call metrics in this scrape: reading Envoy's stats failed", "error", err)
}

// call is what the labels of one module tuple say about its calls.
type call struct {
	// From the labels.
	path    string // a known path, or ""
	api     string // the facts' api, or ""
	surface string // "rest" or "grpc"

	// Derived by resolve.
	fn       string // function_name: a MilvusService method, or Other
	rest     bool
	restPath string // a known REST v2 path, or Other
}

// resolve derives the function and the surface.
func (k *call) resolve() {
	path, _, _ := strings.Cut(k.path, "?")
	k.rest = k.surface == "rest" || (k.surface == "" && strings.HasPrefix(path, milvusgrpc.RESTPrefix))
	var m *milvusgrpc.Method
	var known bool
	if k.rest {
		k.restPath = Other
		if m, known = milvusgrpc.LookupREST(path); known {
			k.restPath = path
		}
	} else {
		m, known = milvusgrpc.Lookup(path)
	}
	switch _, ok := functions[k.api]; {
	case ok:
		k.fn = k.api
	case known:
		k.fn = m.Name
	default:
		k.fn = Other
	}
}

func refusedLabel(r string) string {
	switch r {
	case edgemeta.RefusedAuth, edgemeta.RefusedPolicy, edgemeta.RefusedRateLimit, edgemeta.RefusedValidation:
		return r
	}
	return Other
}

// MilvusNamingException says a problem Prometheus's linter (promtool check
// metrics) reports is one the Milvus Proxy's own metric names carry: its
// counters are named *_count, not *_total. The edge keeps Milvus's names so
// that Milvus's dashboards and alerts work unchanged; its own milvus_edge_*
// metrics follow the conventions.
func MilvusNamingException(metric, problem string) bool {
	return strings.HasPrefix(metric, "milvus_proxy_") && strings.HasSuffix(metric, "_count") &&
		(problem == `counter metrics should have "_total" suffix` ||
			problem == `non-histogram and non-summary metrics should not have "_count" suffix`)
}
