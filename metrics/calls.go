// Package metrics is the edge's Prometheus metrics. Calls counts every call
// Envoy served, from the access-log entries Envoy streams to the edge
// (AccessLogService), under the Milvus Proxy's metric names and labels
// (milvus_proxy_*), so that the Proxy panels of Milvus's dashboards work
// unchanged. Filters times the edge's ext_authz and ext_proc calls. Stats
// reads the components' own counters at each scrape (milvus_edge_*).
// docs/metrics.md lists every metric.
package metrics

import (
	"strings"
	"sync"
	"sync/atomic"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
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
// prometheus.ExponentialBuckets(1, 2, 18), 1 ms .. 131072 ms).
var milvusBuckets = prometheus.ExponentialBuckets(1, 2, 18)

// msgTypes are Milvus's msg_type values of milvus_proxy_receive_bytes_count
// (pkg/metrics InsertLabel, ...), by function.
var msgTypes = map[string]string{
	"Insert": "insert", "Upsert": "upsert", "Delete": "delete",
	"Search": "search", "HybridSearch": "hybrid_search", "Query": "query",
}

// Calls counts finished calls from Envoy's access-log entries. It is a
// prometheus.Collector; Record is safe for concurrent use.
type Calls struct {
	// off says metrics.enabled is false: Envoy then streams only traced
	// calls (for their spans), which must not be counted as all calls.
	off    atomic.Bool
	node   string
	colls  *collections
	users  *users
	series sync.Map // seriesKey → *series

	reqCount      *prometheus.CounterVec
	reqLatency    *prometheus.HistogramVec
	recvBytes     *prometheus.CounterVec
	sendBytes     *prometheus.CounterVec
	searchVectors *prometheus.CounterVec
	insertVectors *prometheus.CounterVec
	upsertVectors *prometheus.CounterVec
	userRPC       *prometheus.CounterVec
	restCount     *prometheus.CounterVec
	restLatency   *prometheus.HistogramVec
	restRecv      *prometheus.CounterVec
	restSend      *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	entries       prometheus.Counter
}

// NewCalls returns the call metrics of the edge nodeID (the node_id label),
// with at most maxCollections (db_name, collection_name) label pairs.
func NewCalls(nodeID string, maxCollections int) *Calls {
	proxy := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "milvus", Subsystem: "proxy", Name: name, Help: help}, labels)
	}
	hist := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "milvus", Subsystem: "proxy", Name: name, Help: help,
			Buckets: milvusBuckets}, labels)
	}
	c := &Calls{
		node:  nodeID,
		colls: newCollections(maxCollections),

		reqCount: proxy("req_count", "count of operation executed (every call through the edge, refusals included)",
			"node_id", "function_name", "status", "db_name", "collection_name"),
		reqLatency: hist("req_latency", "latency of each successful request, in ms, from the first byte received to the last sent",
			"node_id", "function_name"),
		recvBytes: proxy("receive_bytes_count", "count of bytes received from sdk (request bodies of DML and DQL calls)",
			"node_id", "msg_type", "db_name", "collection_name"),
		sendBytes:     proxy("send_bytes_count", "count of bytes sent back to sdk (response bodies of successful searches and queries)", "node_id"),
		searchVectors: proxy("search_vectors_count", "counter of vectors successfully searched (nq)", "node_id", "db_name", "collection_name"),
		insertVectors: proxy("insert_vectors_count", "counter of vectors successfully inserted (num_rows)", "node_id", "db_name", "collection_name"),
		upsertVectors: proxy("upsert_vectors_count", "counter of vectors successfully upserted (num_rows)", "node_id", "db_name", "collection_name"),
		userRPC:       proxy("user_rpc_count", "the rpc count of a user (authenticated calls)", "username"),
		restCount:     proxy("restful_api_req_count", "count of REST v2 calls", "node_id", "path"),
		restLatency:   hist("restful_api_req_latency", "latency of each REST v2 call, in ms", "node_id", "path"),
		restRecv:      proxy("restful_api_receive_bytes_count", "count of REST v2 request body bytes", "node_id", "path"),
		restSend:      proxy("restful_api_send_bytes_count", "count of REST v2 response body bytes", "node_id", "path"),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "milvus_edge", Name: "refusals_total",
			Help: "calls the edge answered itself instead of the backend, by who refused them (auth, policy, rate_limit, validation)"}, []string{"by"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "milvus_edge", Name: "access_log_entries_total",
			Help: "access-log entries received from Envoy (one per call)"}),
	}
	c.users = newUsers(c.userRPC, maxUsers)
	return c
}

// SetMaxCollections changes the cap on (db_name, collection_name) pairs;
// pairs already labelled keep their names.
func (c *Calls) SetMaxCollections(n int) { c.colls.max.Store(int64(n)) }

// SetEnabled turns the counting of streamed calls on or off
// (metrics.enabled).
func (c *Calls) SetEnabled(on bool) { c.off.Store(!on) }

func (c *Calls) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.reqCount, c.reqLatency, c.recvBytes, c.sendBytes, c.searchVectors, c.insertVectors,
		c.upsertVectors, c.userRPC, c.restCount, c.restLatency, c.restRecv, c.restSend, c.refusals, c.entries}
}

// Describe implements prometheus.Collector.
func (c *Calls) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Calls) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors() {
		m.Collect(ch)
	}
}

// call is what one access-log entry says about its call.
type call struct {
	// Read from the entry.
	path          string
	http          uint32 // HTTP status
	grpcStatus    string // from the trailers, else the headers (trailers-only)
	hasGRPCStatus bool
	facts         edgemeta.Facts
	ms            float64 // duration
	in, out       uint64  // request and response body bytes

	// Derived by resolve.
	fn       string // function_name: a MilvusService method, or Other
	rest     bool
	restPath string // a known REST v2 path, or Other
	ok       bool   // Milvus would count it a success
}

// callOf reads an entry decoded by the protobuf runtime (AccessLogService
// decodes the stream's bytes itself: decodeEntry).
func callOf(e *accesslogdatav3.HTTPAccessLogEntry) call {
	cp, r := e.GetCommonProperties(), e.GetResponse()
	k := call{path: e.GetRequest().GetPath(), http: r.GetResponseCode().GetValue(), facts: edgemeta.Read(cp.GetMetadata()),
		in: e.GetRequest().GetRequestBodyBytes(), out: r.GetResponseBodyBytes()}
	if gs, ok := r.GetResponseTrailers()["grpc-status"]; ok {
		k.grpcStatus, k.hasGRPCStatus = gs, true
	} else if gs, ok := r.GetResponseHeaders()["grpc-status"]; ok {
		k.grpcStatus, k.hasGRPCStatus = gs, true
	}
	d := cp.GetDuration()
	if d == nil {
		d = cp.GetTimeToLastDownstreamTxByte()
	}
	k.ms = float64(d.AsDuration().Microseconds()) / 1000
	k.resolve()
	return k
}

// resolve derives the function, the surface and the outcome.
func (k *call) resolve() {
	path, _, _ := strings.Cut(k.path, "?")
	k.rest = k.facts.Surface == "rest" || (k.facts.Surface == "" && strings.HasPrefix(path, milvusgrpc.RESTPrefix))
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
	switch _, ok := functions[k.facts.API]; {
	case ok:
		k.fn = k.facts.API
	case known:
		k.fn = m.Name
	default:
		k.fn = Other
	}
	k.ok = k.succeeded()
}

// succeeded is Milvus's success: nothing refused the call at the edge, HTTP
// 200, grpc-status 0 for gRPC calls (in the trailers, or in the headers of a
// trailers-only answer), and Milvus status code 0 in the response message.
func (k *call) succeeded() bool {
	if k.facts.Refused != "" || k.http != 200 {
		return false
	}
	if !k.rest && (!k.hasGRPCStatus || k.grpcStatus != "0") {
		return false
	}
	return k.facts.MilvusOK()
}

// Record counts one finished call.
func (c *Calls) Record(e *accesslogdatav3.HTTPAccessLogEntry) {
	k := callOf(e)
	c.count(&k)
}

// count counts one resolved call.
func (c *Calls) count(k *call) {
	if c.off.Load() {
		return
	}
	c.entries.Inc()
	f := &k.facts
	db, coll := c.colls.labels(f.DB, f.Collection)
	s := c.seriesOf(k.fn, db, coll)
	s.total.Inc()
	if k.ok {
		s.success.Inc()
		s.latency.Observe(k.ms)
	} else {
		s.fail.Inc()
	}
	if s.recv != nil {
		s.recv.Add(float64(k.in))
	}
	if k.ok {
		if s.send != nil {
			s.send.Add(float64(k.out))
		}
		if s.vectors != nil {
			if n, ok := s.vectorCount(f); ok {
				s.vectors.Add(float64(n))
			}
		}
	}
	if f.User != "" {
		c.users.counter(f.User).Inc()
	}
	if k.rest {
		c.restCount.WithLabelValues(c.node, k.restPath).Inc()
		c.restLatency.WithLabelValues(c.node, k.restPath).Observe(k.ms)
		c.restRecv.WithLabelValues(c.node, k.restPath).Add(float64(k.in))
		c.restSend.WithLabelValues(c.node, k.restPath).Add(float64(k.out))
	}
	if f.Refused != "" {
		c.refusals.WithLabelValues(refusedLabel(f.Refused)).Inc()
	}
}

// series are the children of one (function, db, collection), bound on first
// use: a call then costs one map lookup, not a label hash per metric.
type series struct {
	total, success, fail prometheus.Counter
	latency              prometheus.Observer
	recv                 prometheus.Counter // receive bytes; nil for functions without a msg_type
	send                 prometheus.Counter // send bytes; nil but for searches and queries
	vectors              prometheus.Counter // search/insert/upsert vectors; nil for other functions
	nq                   bool               // vectors counts nq (searches), else num_rows
}

type seriesKey struct{ fn, db, coll string }

func (s *series) vectorCount(f *edgemeta.Facts) (int64, bool) {
	if s.nq {
		return f.NQ, f.HasNQ
	}
	return f.Rows, f.HasRows
}

func (c *Calls) seriesOf(fn, db, coll string) *series {
	key := seriesKey{fn, db, coll}
	if s, ok := c.series.Load(key); ok {
		return s.(*series)
	}
	s := &series{
		total:   c.reqCount.WithLabelValues(c.node, fn, StatusTotal, db, coll),
		success: c.reqCount.WithLabelValues(c.node, fn, StatusSuccess, db, coll),
		fail:    c.reqCount.WithLabelValues(c.node, fn, StatusFail, db, coll),
		latency: c.reqLatency.WithLabelValues(c.node, fn),
	}
	if mt, ok := msgTypes[fn]; ok {
		s.recv = c.recvBytes.WithLabelValues(c.node, mt, db, coll)
	}
	switch fn {
	case "Search", "HybridSearch":
		s.send, s.vectors, s.nq = c.sendBytes.WithLabelValues(c.node), c.searchVectors.WithLabelValues(c.node, db, coll), true
	case "Query":
		s.send = c.sendBytes.WithLabelValues(c.node)
	case "Insert":
		s.vectors = c.insertVectors.WithLabelValues(c.node, db, coll)
	case "Upsert":
		s.vectors = c.upsertVectors.WithLabelValues(c.node, db, coll)
	}
	v, _ := c.series.LoadOrStore(key, s)
	return v.(*series)
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
