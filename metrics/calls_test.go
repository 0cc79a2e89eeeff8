package metrics

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

const grpcPath = "/milvus.proto.milvus.MilvusService/"

// entry is a synthetic access-log entry as Envoy's http_grpc logger sends it.
type entry struct {
	path             string
	http             uint32
	grpcStatus       string // in the trailers; "" = none
	headerGRPCStatus string // in the headers (a trailers-only answer)
	authz, response  map[string]any
	in, out          uint64
	took             time.Duration
}

func (e entry) proto(t testing.TB) *accesslogdatav3.HTTPAccessLogEntry {
	t.Helper()
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, m := range map[string]map[string]any{edgemeta.AuthzNamespace: e.authz, edgemeta.ResponseNamespace: e.response} {
		if m == nil {
			continue
		}
		s, err := structpb.NewStruct(m)
		if err != nil {
			t.Fatal(err)
		}
		md.FilterMetadata[ns] = s
	}
	r := &accesslogdatav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(e.http), ResponseBodyBytes: e.out,
		ResponseHeaders: map[string]string{}, ResponseTrailers: map[string]string{}}
	if e.grpcStatus != "" {
		r.ResponseTrailers["grpc-status"] = e.grpcStatus
	}
	if e.headerGRPCStatus != "" {
		r.ResponseHeaders["grpc-status"] = e.headerGRPCStatus
	}
	return &accesslogdatav3.HTTPAccessLogEntry{
		CommonProperties: &accesslogdatav3.AccessLogCommon{Metadata: md, Duration: durationpb.New(e.took)},
		Request:          &accesslogdatav3.HTTPRequestProperties{Path: e.path, RequestBodyBytes: e.in},
		Response:         r,
	}
}

func facts(api, db, coll string, more ...any) map[string]any {
	m := map[string]any{edgemeta.API: api, edgemeta.Surface: "grpc", edgemeta.DB: db, edgemeta.Collection: coll}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i].(string)] = more[i+1]
	}
	return m
}

// TestRecord maps synthetic entries to the Milvus Proxy's series: each case
// records one entry on fresh metrics and lists every req_count series it
// must produce (and the other values it must move).
func TestRecord(t *testing.T) {
	type reqSeries map[string]float64 // "function/status/db/collection" → count
	for _, tc := range []struct {
		name   string
		e      entry
		want   reqSeries
		check  func(t *testing.T, c *Calls)
		noMore bool
	}{
		{
			name: "search succeeds",
			e: entry{path: grpcPath + "Search", http: 200, grpcStatus: "0", in: 100, out: 700, took: 12 * time.Millisecond,
				authz: facts("Search", "default", "docs", edgemeta.NQ, 3, edgemeta.User, "root"), response: map[string]any{edgemeta.Code: 0}},
			want: reqSeries{"Search/total/default/docs": 1, "Search/success/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "search vectors", testutil.ToFloat64(c.searchVectors.WithLabelValues("n1", "default", "docs")), 3)
				want(t, "receive bytes", testutil.ToFloat64(c.recvBytes.WithLabelValues("n1", "search", "default", "docs")), 100)
				want(t, "send bytes", testutil.ToFloat64(c.sendBytes.WithLabelValues("n1")), 700)
				want(t, "user rpc", testutil.ToFloat64(c.userRPC.WithLabelValues("root")), 1)
				want(t, "latency samples", float64(histCount(t, c, "milvus_proxy_req_latency")), 1)
			},
		},
		{
			name: "insert answered with a Milvus error in a gRPC OK",
			e: entry{path: grpcPath + "Insert", http: 200, grpcStatus: "0", in: 5000,
				authz: facts("Insert", "default", "docs", edgemeta.Rows, 10), response: map[string]any{edgemeta.Code: 1100, edgemeta.Reason: "bad dim"}},
			want: reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "insert vectors of a failed insert", testutil.ToFloat64(c.insertVectors.WithLabelValues("n1", "default", "docs")), 0)
				want(t, "receive bytes (counted for failures too, as Milvus)", testutil.ToFloat64(c.recvBytes.WithLabelValues("n1", "insert", "default", "docs")), 5000)
				want(t, "latency samples (successes only)", float64(histCount(t, c, "milvus_proxy_req_latency")), 0)
			},
		},
		{
			name: "legacy error_code only",
			e: entry{path: grpcPath + "Insert", http: 200, grpcStatus: "0",
				authz: facts("Insert", "default", "docs"), response: map[string]any{edgemeta.ErrorCode: 4}},
			want: reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1},
		},
		{
			name: "insert succeeds",
			e: entry{path: grpcPath + "Insert", http: 200, grpcStatus: "0",
				authz: facts("Insert", "default", "docs", edgemeta.Rows, "10"), response: map[string]any{edgemeta.Code: 0}},
			want: reqSeries{"Insert/total/default/docs": 1, "Insert/success/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "insert vectors (num_rows as a string)", testutil.ToFloat64(c.insertVectors.WithLabelValues("n1", "default", "docs")), 10)
			},
		},
		{
			name: "validation refusal",
			e: entry{path: grpcPath + "Search", http: 200, grpcStatus: "0",
				authz: facts("Search", "default", "docs", edgemeta.Refused, edgemeta.RefusedValidation)},
			want: reqSeries{"Search/total/default/docs": 1, "Search/fail/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "refusals", testutil.ToFloat64(c.refusals.WithLabelValues("validation")), 1)
			},
		},
		{
			name: "policy denial, trailers-only",
			e: entry{path: grpcPath + "Insert", http: 200, headerGRPCStatus: "7",
				authz: facts("Insert", "default", "docs", edgemeta.Refused, edgemeta.RefusedPolicy, edgemeta.User, "reader")},
			want: reqSeries{"Insert/total/default/docs": 1, "Insert/fail/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "refusals", testutil.ToFloat64(c.refusals.WithLabelValues("policy")), 1)
				want(t, "user rpc", testutil.ToFloat64(c.userRPC.WithLabelValues("reader")), 1)
			},
		},
		{
			name: "denial before the contract's keys: grpc-status alone",
			e:    entry{path: grpcPath + "Insert", http: 200, headerGRPCStatus: "16"},
			want: reqSeries{"Insert/total//": 1, "Insert/fail//": 1},
		},
		{
			name: "skipped route without metadata: function from the path",
			e:    entry{path: grpcPath + "GetVersion", http: 200, grpcStatus: "0"},
			want: reqSeries{"GetVersion/total//": 1, "GetVersion/success//": 1},
		},
		{
			name: "connection reset: no grpc-status",
			e:    entry{path: grpcPath + "Query", http: 200, authz: facts("Query", "default", "docs")},
			want: reqSeries{"Query/total/default/docs": 1, "Query/fail/default/docs": 1},
		},
		{
			name: "upstream 503",
			e:    entry{path: grpcPath + "Query", http: 503, headerGRPCStatus: "14", authz: facts("Query", "default", "docs")},
			want: reqSeries{"Query/total/default/docs": 1, "Query/fail/default/docs": 1},
		},
		{
			name: "unknown method",
			e:    entry{path: "/grpc.health.v1.Health/Check", http: 200, grpcStatus: "12"},
			want: reqSeries{"__other__/total//": 1, "__other__/fail//": 1},
		},
		{
			name: "metadata names an unknown api: the path decides",
			e:    entry{path: grpcPath + "ShowCollections", http: 200, grpcStatus: "0", authz: facts("/x/Y", "default", "")},
			want: reqSeries{"ShowCollections/total/default/": 1, "ShowCollections/success/default/": 1},
		},
		{
			name: "REST search",
			e: entry{path: "/v2/vectordb/entities/search?x=1", http: 200, in: 80, out: 300,
				authz:    map[string]any{edgemeta.API: "Search", edgemeta.Surface: "rest", edgemeta.DB: "default", edgemeta.Collection: "docs"},
				response: map[string]any{edgemeta.Code: 0}},
			want: reqSeries{"Search/total/default/docs": 1, "Search/success/default/docs": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "restful count", testutil.ToFloat64(c.restCount.WithLabelValues("n1", "/v2/vectordb/entities/search")), 1)
				want(t, "restful receive", testutil.ToFloat64(c.restRecv.WithLabelValues("n1", "/v2/vectordb/entities/search")), 80)
				want(t, "restful send", testutil.ToFloat64(c.restSend.WithLabelValues("n1", "/v2/vectordb/entities/search")), 300)
			},
		},
		{
			name: "REST error in an HTTP 200",
			e: entry{path: "/v2/vectordb/collections/describe", http: 200,
				authz:    map[string]any{edgemeta.API: "DescribeCollection", edgemeta.Surface: "rest", edgemeta.DB: "default", edgemeta.Collection: "nope"},
				response: map[string]any{edgemeta.Code: 100}},
			want: reqSeries{"DescribeCollection/total/default/nope": 1, "DescribeCollection/fail/default/nope": 1},
		},
		{
			name: "REST unknown path, no metadata",
			e:    entry{path: "/v2/vectordb/nothing/here", http: 404},
			want: reqSeries{"__other__/total//": 1, "__other__/fail//": 1},
			check: func(t *testing.T, c *Calls) {
				want(t, "restful count", testutil.ToFloat64(c.restCount.WithLabelValues("n1", Other)), 1)
			},
		},
	} {
		for _, path := range []string{"proto", "wire"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				c := NewCalls("n1", 10)
				if path == "proto" {
					c.Record(tc.e.proto(t))
				} else {
					recordWire(t, c, tc.e.proto(t))
				}
				got := reqSeries{}
				for _, m := range gather(t, c, "milvus_proxy_req_count") {
					if m.value == 0 {
						continue // bound with its siblings, never counted
					}
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
					if got[k] != v {
						t.Errorf("req_count{%s} = %v, want %v (all: %v)", k, got[k], v, got)
					}
				}
				want(t, "entries", testutil.ToFloat64(c.entries), 1)
				if tc.check != nil {
					tc.check(t, c)
				}
			})
		}
	}
}

// recordWire records e as AccessLogService does: from the bytes of a
// stream message, decoded by hand.
func recordWire(t testing.TB, c *Calls, es ...*accesslogdatav3.HTTPAccessLogEntry) {
	t.Helper()
	b, err := proto.Marshal(streamMessage(es...))
	if err != nil {
		t.Fatal(err)
	}
	var k call
	if err := forEachEntry(b, func(e []byte) error {
		if err := decodeEntry(e, &k); err != nil {
			return err
		}
		k.resolve()
		c.count(&k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func streamMessage(es ...*accesslogdatav3.HTTPAccessLogEntry) *accesslogv3.StreamAccessLogsMessage {
	return &accesslogv3.StreamAccessLogsMessage{
		Identifier: &accesslogv3.StreamAccessLogsMessage_Identifier{LogName: "milvus_edge_metrics"},
		LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
			HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: es}},
	}
}

func want(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestCollectionCap: the first max pairs keep their names; later ones keep
// their database when it already has a pair, else both become __other__.
func TestCollectionCap(t *testing.T) {
	c := newCollections(2)
	for _, tc := range []struct{ db, coll, wantDB, wantColl string }{
		{"default", "a", "default", "a"},
		{"", "", "", ""}, // names nothing: not a pair
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

// TestCappedCardinality records many collections and users and checks the
// number of series stays bounded.
func TestCappedCardinality(t *testing.T) {
	c := NewCalls("n1", 5)
	c.users = newUsers(c.userRPC, 3)
	for i := range 50 {
		c.Record(entry{path: grpcPath + "Search", http: 200, grpcStatus: "0",
			authz: facts("Search", "default", "c"+string(rune('a'+i%26))+string(rune('a'+i/26)), edgemeta.User, "u"+string(rune('a'+i%26)))}.proto(t))
	}
	colls := map[string]bool{}
	for _, m := range gather(t, c, "milvus_proxy_req_count") {
		colls[m.labels["collection_name"]] = true
	}
	if len(colls) != 6 || !colls[Other] {
		t.Errorf("collection_name values %v, want 5 names and %s", colls, Other)
	}
	if n := len(gather(t, c, "milvus_proxy_user_rpc_count")); n != 4 {
		t.Errorf("%d username series, want 3 and %s", n, Other)
	}
	c.Record(entry{path: "/v2/vectordb/entities/search", http: 200}.proto(t))
	lint(t, c)
}

// BenchmarkRecord is the edge's cost per call: decoding one entry of a
// stream message as AccessLogService does, and counting it (proto: with the
// protobuf runtime instead, for comparison).
func BenchmarkRecord(b *testing.B) {
	e := benchEntry(b)
	raw, err := proto.Marshal(streamMessage(e))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("wire", func(b *testing.B) {
		c := NewCalls("n1", 200)
		var k call
		count := func(e []byte) error {
			if err := decodeEntry(e, &k); err != nil {
				return err
			}
			k.resolve()
			c.count(&k)
			return nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := forEachEntry(raw, count); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		c := NewCalls("n1", 200)
		b.ReportAllocs()
		for b.Loop() {
			var m accesslogv3.StreamAccessLogsMessage
			if err := proto.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
			c.Record(m.GetHttpLogs().GetLogEntry()[0])
		}
	})
}

// benchEntry is an entry as Envoy sends it for a Search through the edge.
func benchEntry(t testing.TB) *accesslogdatav3.HTTPAccessLogEntry {
	e := entry{path: grpcPath + "Search", http: 200, grpcStatus: "0", in: 600, out: 900, took: 3 * time.Millisecond,
		authz: facts("Search", "default", "bench", edgemeta.NQ, 1, edgemeta.TopK, 10, edgemeta.User, "root",
			edgemeta.DecisionID, "0123456789abcdef0123456789abcdef"),
		response: map[string]any{edgemeta.Code: 0}}.proto(t)
	cp := e.CommonProperties
	cp.UpstreamCluster = "fake"
	cp.StartTime = timestamppb.Now()
	cp.TimeToLastDownstreamTxByte = durationpb.New(3 * time.Millisecond)
	cp.DownstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}
	cp.UpstreamRemoteAddress = cp.DownstreamRemoteAddress
	return e
}

// TestDecodeAllocs pins the decode path's allocations per entry: the
// strings it keeps (path, names, user), nothing per field skipped.
func TestDecodeAllocs(t *testing.T) {
	raw, err := proto.Marshal(streamMessage(benchEntry(t)))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCalls("n1", 200)
	var k call
	count := func(e []byte) error {
		if err := decodeEntry(e, &k); err != nil {
			return err
		}
		k.resolve()
		c.count(&k)
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { _ = forEachEntry(raw, count) }); n > 8 {
		t.Errorf("%v allocations per entry, want ≤ 8", n)
	}
}

// TestDecodeMalformed: truncated messages are errors, never panics.
func TestDecodeMalformed(t *testing.T) {
	raw, err := proto.Marshal(streamMessage(benchEntry(t)))
	if err != nil {
		t.Fatal(err)
	}
	var k call
	for i := range raw {
		_ = forEachEntry(raw[:i], func(e []byte) error { return decodeEntry(e, &k) })
	}
	if err := forEachEntry([]byte{0x12, 0x05, 0x0a}, func(e []byte) error { return decodeEntry(e, &k) }); err == nil {
		t.Error("a length past the end decoded")
	}
}
