package metrics

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// grpcCall is a tuple of one gRPC call the module counted.
func grpcCall(method, db, coll string, ok bool) tuple {
	return tuple{api: method, surface: "grpc", path: grpcPath + method, db: db, coll: coll, ok: ok, calls: 1}
}

// TestCalls maps the module's tuples to the Milvus Proxy's series: each
// case serves the tuples the module counts for one call (the success rule
// — HTTP, grpc-status, Milvus code and error_code — is the module's: here
// it is the ok label) and lists every req_count series they must produce
// and the other values they must move.
func TestCalls(t *testing.T) {
	type reqSeries map[string]float64 // "function/status/db/collection" → count
	with := func(tp tuple, f func(*tuple)) tuple { f(&tp); return tp }
	for _, tc := range []struct {
		name   string
		tuples []tuple
		users  map[string]float64
		want   reqSeries
		check  func(t *testing.T, c *Calls)
	}{
		{
			name: "search succeeds",
			tuples: []tuple{with(grpcCall("Search", "default", "docs", true), func(t *tuple) {
				t.in, t.out, t.nq, t.durations = 100, 700, 3, []float64{12000}
			})},
			users: map[string]float64{"root": 1},
			want:  reqSeries{"Search/total/default/docs": 1, "Search/success/default/docs": 1, "Search/fail/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "search vectors", one(t, c, "milvus_proxy_search_vectors_count", "db_name", "default", "collection_name", "docs").value, 3)
				want(t, "receive bytes", one(t, c, "milvus_proxy_receive_bytes_count", "msg_type", "search", "db_name", "default", "collection_name", "docs").value, 100)
				want(t, "send bytes", one(t, c, "milvus_proxy_send_bytes_count").value, 700)
				want(t, "user rpc", one(t, c, "milvus_proxy_user_rpc_count", "username", "root").value, 1)
				h := one(t, c, "milvus_proxy_req_latency", "function_name", "Search").m.GetHistogram()
				want(t, "latency samples", float64(h.GetSampleCount()), 1)
				want(t, "latency sum (ms)", h.GetSampleSum(), 12)
				absent(t, c, "milvus_proxy_restful_api_req_count")
				absent(t, c, "milvus_edge_refusals_total")
			},
		},
		{
			name: "insert answered with a Milvus error in a gRPC OK",
			tuples: []tuple{with(grpcCall("Insert", "default", "docs", false), func(t *tuple) {
				t.in, t.rows, t.durations = 5000, 10, []float64{900}
			})},
			want: reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1, "Insert/success/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "insert vectors of a failed insert", one(t, c, "milvus_proxy_insert_vectors_count", "db_name", "default", "collection_name", "docs").value, 0)
				want(t, "receive bytes (counted for failures too, as Milvus)", one(t, c, "milvus_proxy_receive_bytes_count", "msg_type", "insert", "db_name", "default", "collection_name", "docs").value, 5000)
				want(t, "latency samples (successes only)", float64(histCount(t, c, "milvus_proxy_req_latency")), 0)
				absent(t, c, "milvus_proxy_send_bytes_count")
			},
		},
		{
			name:   "insert succeeds",
			tuples: []tuple{with(grpcCall("Insert", "default", "docs", true), func(t *tuple) { t.rows = 10 })},
			want:   reqSeries{"Insert/total/default/docs": 1, "Insert/success/default/docs": 1, "Insert/fail/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "insert vectors", one(t, c, "milvus_proxy_insert_vectors_count", "db_name", "default", "collection_name", "docs").value, 10)
			},
		},
		{
			name:   "upsert succeeds",
			tuples: []tuple{with(grpcCall("Upsert", "default", "docs", true), func(t *tuple) { t.rows, t.in = 4, 40 })},
			want:   reqSeries{"Upsert/total/default/docs": 1, "Upsert/success/default/docs": 1, "Upsert/fail/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "upsert vectors", one(t, c, "milvus_proxy_upsert_vectors_count", "db_name", "default", "collection_name", "docs").value, 4)
				want(t, "receive bytes", one(t, c, "milvus_proxy_receive_bytes_count", "msg_type", "upsert").value, 40)
			},
		},
		{
			name:   "validation refusal",
			tuples: []tuple{with(grpcCall("Search", "default", "docs", false), func(t *tuple) { t.refused = edgemeta.RefusedValidation })},
			want:   reqSeries{"Search/total/default/docs": 1, "Search/fail/default/docs": 1, "Search/success/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "refusals", one(t, c, "milvus_edge_refusals_total", "by", "validation").value, 1)
				want(t, "search vectors of a refused search", one(t, c, "milvus_proxy_search_vectors_count").value, 0)
			},
		},
		{
			name:   "policy denial",
			tuples: []tuple{with(grpcCall("Insert", "default", "docs", false), func(t *tuple) { t.refused = edgemeta.RefusedPolicy })},
			users:  map[string]float64{"reader": 1},
			want:   reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1, "Insert/success/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "refusals", one(t, c, "milvus_edge_refusals_total", "by", "policy").value, 1)
				want(t, "user rpc", one(t, c, "milvus_proxy_user_rpc_count", "username", "reader").value, 1)
			},
		},
		{
			name:   "refused by someone the edge does not know",
			tuples: []tuple{with(grpcCall("Insert", "default", "docs", false), func(t *tuple) { t.refused = "martians" })},
			want:   reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1, "Insert/success/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "refusals", one(t, c, "milvus_edge_refusals_total", "by", Other).value, 1)
			},
		},
		{
			name:   "denial before the facts: no api, the path decides",
			tuples: []tuple{{surface: "grpc", path: grpcPath + "Insert", calls: 1}},
			want:   reqSeries{"Insert/total//": 1, "Insert/fail//": 1, "Insert/success//": 0},
		},
		{
			name:   "skipped route without facts: function from the path",
			tuples: []tuple{{surface: "grpc", path: grpcPath + "GetVersion", ok: true, calls: 1}},
			want:   reqSeries{"GetVersion/total//": 1, "GetVersion/success//": 1, "GetVersion/fail//": 0},
		},
		{
			name:   "unknown method: no known path",
			tuples: []tuple{{surface: "grpc", calls: 1}},
			want:   reqSeries{"__other__/total//": 1, "__other__/fail//": 1, "__other__/success//": 0},
		},
		{
			name:   "the facts name an unknown api: the path decides",
			tuples: []tuple{{api: "/x/Y", surface: "grpc", path: grpcPath + "ShowCollections", db: "default", ok: true, calls: 1}},
			want:   reqSeries{"ShowCollections/total/default/": 1, "ShowCollections/success/default/": 1, "ShowCollections/fail/default/": 0},
		},
		{
			name: "REST search",
			tuples: []tuple{{api: "Search", surface: "rest", path: "/v2/vectordb/entities/search", db: "default", coll: "docs", ok: true,
				calls: 1, in: 80, out: 300, nq: 2, durations: []float64{2500}}},
			want: reqSeries{"Search/total/default/docs": 1, "Search/success/default/docs": 1, "Search/fail/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				p := "/v2/vectordb/entities/search"
				want(t, "restful count", one(t, c, "milvus_proxy_restful_api_req_count", "path", p).value, 1)
				want(t, "restful receive", one(t, c, "milvus_proxy_restful_api_receive_bytes_count", "path", p).value, 80)
				want(t, "restful send", one(t, c, "milvus_proxy_restful_api_send_bytes_count", "path", p).value, 300)
				want(t, "restful latency samples", one(t, c, "milvus_proxy_restful_api_req_latency", "path", p).value, 1)
				want(t, "search vectors", one(t, c, "milvus_proxy_search_vectors_count").value, 2)
			},
		},
		{
			name: "REST error in an HTTP 200",
			tuples: []tuple{{api: "DescribeCollection", surface: "rest", path: "/v2/vectordb/collections/describe", db: "default", coll: "nope",
				calls: 1, durations: []float64{400}}},
			want: reqSeries{"DescribeCollection/total/default/nope": 1, "DescribeCollection/fail/default/nope": 1, "DescribeCollection/success/default/nope": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "restful latency samples (failures too)", one(t, c, "milvus_proxy_restful_api_req_latency", "path", "/v2/vectordb/collections/describe").value, 1)
			},
		},
		{
			name:   "REST unknown path, no facts",
			tuples: []tuple{{surface: "rest", calls: 1}},
			want:   reqSeries{"__other__/total//": 1, "__other__/fail//": 1, "__other__/success//": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "restful count", one(t, c, "milvus_proxy_restful_api_req_count", "path", Other).value, 1)
			},
		},
		{
			name: "tuples of one series add up: successes, failures, refusals",
			tuples: []tuple{
				with(grpcCall("Search", "default", "docs", true), func(t *tuple) { t.calls, t.nq, t.out, t.in = 5, 7, 500, 50 }),
				with(grpcCall("Search", "default", "docs", false), func(t *tuple) { t.calls, t.nq, t.out, t.in = 2, 9, 20, 30 }),
				with(grpcCall("Search", "default", "docs", false), func(t *tuple) { t.calls, t.refused = 3, edgemeta.RefusedRateLimit }),
				{api: "HybridSearch", surface: "grpc", path: grpcPath + "HybridSearch", db: "default", coll: "docs", ok: true, calls: 1, nq: 4, out: 5},
				{api: "Query", surface: "grpc", path: grpcPath + "Query", db: "default", coll: "docs", ok: true, calls: 1, out: 11},
			},
			want: reqSeries{"Search/total/default/docs": 10, "Search/success/default/docs": 5, "Search/fail/default/docs": 5,
				"HybridSearch/total/default/docs": 1, "HybridSearch/success/default/docs": 1, "HybridSearch/fail/default/docs": 0,
				"Query/total/default/docs": 1, "Query/success/default/docs": 1, "Query/fail/default/docs": 0},
			check: func(t *testing.T, c *Calls) {
				want(t, "search vectors (successes, hybrid too)", one(t, c, "milvus_proxy_search_vectors_count").value, 11)
				want(t, "send bytes (successful searches and queries)", one(t, c, "milvus_proxy_send_bytes_count").value, 516)
				want(t, "receive bytes (every search)", one(t, c, "milvus_proxy_receive_bytes_count", "msg_type", "search", "db_name", "default", "collection_name", "docs").value, 80)
				want(t, "refusals", one(t, c, "milvus_edge_refusals_total", "by", "rate_limit").value, 3)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := callsOf(t, 10, tc.tuples, tc.users)
			got := reqSeries{}
			for _, m := range gather(t, c, "milvus_proxy_req_count") {
				l := m.labels
				if l["node_id"] != "n1" {
					t.Errorf("node_id %q", l["node_id"])
				}
				got[strings.Join([]string{l["function_name"], l["status"], l["db_name"], l["collection_name"]}, "/")] = m.value
			}
			if len(got) != len(tc.want) {
				t.Errorf("req_count series %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if n, ok := got[k]; !ok || n != v {
					t.Errorf("req_count{%s} = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			lint(t, c)
		})
	}
}

// TestLatencyBuckets: Envoy's µs buckets (Milvus's ×1000) become Milvus's
// ms buckets, cumulative, and the sum is in ms; tuples of one function add
// up, failures stay out of req_latency.
func TestLatencyBuckets(t *testing.T) {
	c := callsOf(t, 10, []tuple{
		with2(grpcCall("Search", "default", "docs", true), []float64{500, 1000, 1500, 3000, 200_000_000}),
		with2(grpcCall("Search", "default", "other", true), []float64{7000}),
		with2(grpcCall("Search", "default", "docs", false), []float64{1, 1, 1}),
	}, nil)
	h := one(t, c, "milvus_proxy_req_latency", "function_name", "Search").m.GetHistogram()
	want(t, "count", float64(h.GetSampleCount()), 6)
	want(t, "sum (ms)", h.GetSampleSum(), (500+1000+1500+3000+200_000_000+7000)/1000.0)
	wantBuckets := map[float64]uint64{1: 2, 2: 3, 4: 4, 8: 5, 16: 5, 131072: 5}
	if len(h.GetBucket()) != 18 {
		t.Fatalf("%d buckets, want Milvus's 18", len(h.GetBucket()))
	}
	for _, b := range h.GetBucket() {
		if n, ok := wantBuckets[b.GetUpperBound()]; ok && b.GetCumulativeCount() != n {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}
}

func with2(tp tuple, durations []float64) tuple {
	tp.durations, tp.calls = durations, float64(len(durations))
	return tp
}

// TestOtherBuckets: with bounds other than the bootstrap's (Envoy's
// defaults), each Milvus bucket gets the count of the next raw bound down.
func TestOtherBuckets(t *testing.T) {
	d := &rawHistogram{count: 4, sum: 9000, bounds: []float64{500, 1000, 5000, 10000}, counts: []uint64{1, 2, 3, 4}}
	var h histSum
	h.add(d)
	for i, w := range map[int]uint64{0: 2, 1: 2, 2: 2, 3: 3, 4: 4, 17: 4} { // 1, 2, 4, 8, 16 … ms
		if h.buckets[i] != w {
			t.Errorf("le=%v ms: %d, want %d", milvusBuckets[i], h.buckets[i], w)
		}
	}
	want(t, "sum", h.sum, 9)
}

// TestParseEnvoyCalls reads Envoy's own forms: labels with empty values left
// out, a counter named with _total, other families skipped, an unknown stat
// of a newer module ignored.
func TestParseEnvoyCalls(t *testing.T) {
	text := `# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="milvus"} 9
# TYPE envoy_milvus_edge_calls_total counter
envoy_milvus_edge_calls_total{api="GetVersion",surface="grpc",path="/milvus.proto.milvus.MilvusService/GetVersion",ok="true"} 4
# TYPE envoy_milvus_edge_call_new_thing counter
envoy_milvus_edge_call_new_thing{api="GetVersion",surface="grpc",ok="true"} 1
`
	got, err := parseEnvoyCalls(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	k := callTuple{api: "GetVersion", surface: "grpc", path: grpcPath + "GetVersion", ok: true}
	if len(got.tuples) != 1 || got.tuples[k] == nil || got.tuples[k].calls != 4 {
		t.Errorf("tuples %v", got.tuples)
	}
	for _, bad := range []string{
		"envoy_milvus_edge_calls{ 1\n",
		"envoy_milvus_edge_calls{api=\"x} 1\n",
		"envoy_milvus_edge_calls{api=\"\\x\"} 1\n",
		"envoy_milvus_edge_calls{api=x} 1\n",
		"envoy_milvus_edge_calls{api=\"x\"} one\n",
		"envoy_milvus_edge_calls\n",
	} {
		if _, err := parseEnvoyCalls(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// Escaped label values, a sample without labels, a timestamp, a
	// trailing comma, buckets out of order.
	got, err = parseEnvoyCalls(strings.NewReader(`envoy_milvus_edge_calls{api="a\"b\\c\nd",ok="true",} 2 1700000000
envoy_milvus_edge_calls 5
envoy_milvus_edge_call_duration_us_bucket{ok="true",le="+Inf"} 3
envoy_milvus_edge_call_duration_us_bucket{ok="true",le="2000"} 3
envoy_milvus_edge_call_duration_us_bucket{ok="true",le="1000"} 1
envoy_milvus_edge_call_duration_us_sum{ok="true"} 2500.5
envoy_milvus_edge_call_duration_us_count{ok="true"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if v := got.tuples[callTuple{api: "a\"b\\c\nd", ok: true}]; v == nil || v.calls != 2 {
		t.Errorf("escaped api: %v", got.tuples)
	}
	if v := got.tuples[callTuple{}]; v == nil || v.calls != 5 {
		t.Errorf("no labels: %v", got.tuples)
	}
	d := got.tuples[callTuple{ok: true}].dur
	if d == nil || d.count != 3 || d.sum != 2500.5 || fmt.Sprint(d.bounds, d.counts) != "[1000 2000] [1 3]" {
		t.Errorf("histogram %+v", d)
	}
}

// TestCaps: the edge caps (db, collection) pairs and users again, after
// the module: pairs the module already capped pass as they are and take no
// place; a reload raising the cap applies.
func TestCaps(t *testing.T) {
	var tuples []tuple
	users := map[string]float64{Other: 7}
	for i := range 8 {
		tuples = append(tuples, grpcCall("Search", "default", fmt.Sprintf("c%d", i), true))
		users[fmt.Sprintf("u%d", i)] = 1
	}
	tuples = append(tuples, grpcCall("Search", Other, Other, true), grpcCall("Search", "default", Other, true), grpcCall("Search", "", "", true))
	c := callsOf(t, 5, tuples, users)
	c.users = newUsers(3)
	colls := map[string]float64{}
	for _, m := range gather(t, c, "milvus_proxy_req_count") {
		if m.labels["status"] == StatusTotal {
			colls[m.labels["db_name"]+"/"+m.labels["collection_name"]] = m.value
		}
	}
	wantColls := map[string]float64{"default/c0": 1, "default/c1": 1, "default/c2": 1, "default/c3": 1, "default/c4": 1,
		"default/__other__": 4, "__other__/__other__": 1, "/": 1}
	if fmt.Sprint(colls) != fmt.Sprint(wantColls) {
		t.Errorf("collections %v, want %v", colls, wantColls)
	}
	us := map[string]float64{}
	for _, m := range gather(t, c, "milvus_proxy_user_rpc_count") {
		us[m.labels["username"]] = m.value
	}
	if want := map[string]float64{"u0": 1, "u1": 1, "u2": 1, Other: 7 + 5}; fmt.Sprint(us) != fmt.Sprint(want) {
		t.Errorf("users %v, want %v", us, want)
	}
	if u := c.users.label("\xff"); u != Other {
		t.Errorf("a user name that is not UTF-8: %q", u)
	}
	c.SetMaxCollections(7) // a reload raises the cap
	if n := one(t, c, "milvus_proxy_req_count", "function_name", "Search", "status", StatusTotal, "db_name", "default", "collection_name", "c6").value; n != 1 {
		t.Errorf("after raising the cap: c6 = %v", n)
	}
	lint(t, c)
}

// TestCollectionCap: the first max pairs keep their names; later ones keep
// their database when it already has a pair, else both become __other__.
func TestCollectionCap(t *testing.T) {
	c := newCollections(2)
	for _, tc := range []struct{ db, coll, wantDB, wantColl string }{
		{"default", "a", "default", "a"},
		{"", "", "", ""},             // names nothing: not a pair
		{"db9", Other, "db9", Other}, // capped by the module: takes no place
		{Other, Other, Other, Other},
		{"db1", "b", "db1", "b"},
		{"default", "a", "default", "a"}, // seen
		{"default", "c", "default", Other},
		{"db2", "d", Other, Other},
		{"db1", "\xff", Other, Other},                       // not UTF-8
		{"default", strings.Repeat("x", 256), Other, Other}, // longer than any Milvus name
	} {
		db, coll := c.labels(tc.db, tc.coll)
		if db != tc.wantDB || coll != tc.wantColl {
			t.Errorf("labels(%q, %q) = (%q, %q), want (%q, %q)", tc.db, tc.coll, db, coll, tc.wantDB, tc.wantColl)
		}
	}
	c.max.Store(3) // a reload raises the cap
	if db, coll := c.labels("db2", "d"); db != "db2" || coll != "d" {
		t.Errorf("after raising the cap: (%q, %q)", db, coll)
	}
}

// TestEnvoyUnreachable: a failed read serves no call families, without a
// panic, and warns once a minute; the edge's other metrics are not its
// concern. An Envoy answering an error is a failed read too.
func TestEnvoyUnreachable(t *testing.T) {
	var logs bytes.Buffer
	es := NewEnvoyStats("127.0.0.1:1", 200*time.Millisecond)
	c := NewCalls(slog.New(slog.NewTextHandler(&logs, nil)), "n1", 10, es)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	for _, step := range []time.Duration{0, 30 * time.Second, 31 * time.Second} {
		now = now.Add(step)
		if n := len(gather(t, c, "milvus_proxy_req_count")); n != 0 {
			t.Fatalf("%d req_count series from an unreachable Envoy", n)
		}
	}
	if n := strings.Count(logs.String(), "reading Envoy's stats failed"); n != 2 {
		t.Errorf("%d warnings over 61 s, want 2:\n%s", n, logs.String())
	}

	broken, _ := fakeEnvoy(t, func() string { return "envoy_milvus_edge_calls{ 1\n" })
	c = NewCalls(slog.New(slog.DiscardHandler), "n1", 10, broken)
	absent(t, c, "milvus_proxy_req_count")
}

// TestCallsOff: metrics.enabled false asks Envoy nothing and serves no
// call families; turned back on, it does.
func TestCallsOff(t *testing.T) {
	text := exposition([]tuple{grpcCall("Search", "default", "docs", true)}, nil)
	es, reads := fakeEnvoy(t, func() string { return text })
	c := NewCalls(slog.New(slog.DiscardHandler), "n1", 10, es)
	c.SetEnabled(false)
	absent(t, c, "milvus_proxy_req_count")
	if n := reads.Load(); n != 0 {
		t.Errorf("%d reads of Envoy's stats with metrics off", n)
	}
	c.SetEnabled(true)
	want(t, "searches", one(t, c, "milvus_proxy_req_count", "function_name", "Search", "status", StatusTotal, "db_name", "default", "collection_name", "docs").value, 1)
}

// TestRealEnvoyExposition reads what Envoy 1.40 served with the calls
// module (testdata/envoy_stats.prom: a REST search without facts, and a
// call on an unknown path, through a direct-response route): the names,
// the empty labels and the float sums as Envoy writes them.
func TestRealEnvoyExposition(t *testing.T) {
	b, err := os.ReadFile("testdata/envoy_stats.prom")
	if err != nil {
		t.Fatal(err)
	}
	es, _ := fakeEnvoy(t, func() string { return string(b) })
	c := NewCalls(slog.New(slog.DiscardHandler), "n1", 10, es)
	want(t, "searches", one(t, c, "milvus_proxy_req_count", "function_name", "Search", "status", StatusSuccess, "db_name", "", "collection_name", "").value, 1)
	want(t, "unknown", one(t, c, "milvus_proxy_req_count", "function_name", Other, "status", StatusFail).value, 1)
	p := "/v2/vectordb/entities/search"
	want(t, "restful count", one(t, c, "milvus_proxy_restful_api_req_count", "path", p).value, 1)
	want(t, "restful send", one(t, c, "milvus_proxy_restful_api_send_bytes_count", "path", p).value, 10)
	h := one(t, c, "milvus_proxy_req_latency", "function_name", "Search").m.GetHistogram()
	if h.GetSampleCount() != 1 || h.GetBucket()[0].GetCumulativeCount() != 1 || h.GetSampleSum() < 0.1 || h.GetSampleSum() > 0.2 {
		t.Errorf("Search latency %v", h)
	}
	lint(t, c)
}

// BenchmarkCollect is the edge's cost per scrape, now that it does nothing
// per call: reading and serving the module's stats for 200 collections ×
// 3 functions × success and failure (1,200 tuples, each with its
// histogram), from a local HTTP server.
func BenchmarkCollect(b *testing.B) {
	var tuples []tuple
	for i := range 200 {
		for _, fn := range []string{"Search", "Insert", "Query"} {
			for _, ok := range []bool{true, false} {
				tuples = append(tuples, tuple{api: fn, surface: "grpc", path: grpcPath + fn, db: "default", coll: fmt.Sprintf("c%d", i),
					ok: ok, calls: 10, in: 1000, out: 2000, nq: 10, durations: []float64{1500, 9000}})
			}
		}
	}
	text := exposition(tuples, map[string]float64{"root": 1})
	t := &testing.T{}
	es, _ := fakeEnvoy(t, func() string { return text })
	c := NewCalls(slog.New(slog.DiscardHandler), "n1", 200, es)
	ch := make(chan prometheus.Metric, 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}
