package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestAccessLogSaysWhatMilvusSays: Envoy's access log line of each call
// holds what Milvus's own access log says — who called which method on what
// (ext_authz's facts), the Milvus status of the answer (read from the
// response by the calls filter (callsmodule/): the backend's, or the edge's own typed
// refusal), who refused it at the edge, gRPC and HTTP status, bytes,
// durations — against a real Envoy and milvus-lite: a success, a large
// result, validation refusals (single pass, ext_proc, gzip, REST), a policy
// denial, a failed login, a rate-limit refusal, a backend error inside a
// gRPC OK, and a REST call answered by the edge.
func TestAccessLogSaysWhatMilvusSays(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	accessLog := filepath.Join(t.TempDir(), "access.jsonl")
	head := strings.Replace(p.ConfigHead(), "listener: {address: "+p.Listener+"}", "listener: {address: "+p.Listener+", access_log: "+accessLog+"}", 1)
	e := testenv.Run(t, head+fmt.Sprintf(`auth: {policy_dir: %s}
validation: {watch_every: 0s}
rate_limit:
  enabled: true
  properties: false
  collections:
    - {database: default, name: limited, query_qps: 0.001}
clusters:
  - name: default
    rest: false
    endpoints: [{address: %s}]
  - name: restful  # says it serves REST, but milvus-lite does not: Envoy's own JSON answer
    endpoints: [{address: %s}]
routes:
  - {collection: via_rest, cluster: restful}
  - cluster: default
`, testenv.PolicyBundle(t, rbacData(t, "")), backend, backend), p)
	c := testenv.Client(t, p.Listener)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := testenv.Root(ctx)

	const dim = 8
	createVectorCollection(root, t, c, "docs", dim)
	createVectorCollection(root, t, c, "big", 128)
	createVectorCollection(root, t, c, "limited", dim)
	for _, coll := range []string{"docs", "limited"} {
		if r, err := c.Insert(root, insertRequest(coll, 10, dim)); err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("insert into %s: %v %v", coll, r.GetStatus(), err)
		}
	}
	if r, err := c.Insert(root, insertRequest("big", 3000, 128)); err != nil || r.GetStatus().GetCode() != 0 { // 1.5 MB: through ext_proc
		t.Fatalf("insert into big: %v %v", r.GetStatus(), err)
	}

	// The calls, each told apart in the log by its collection or user.
	if r, err := c.Search(root, searchRequest("docs", dim)); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("search: %v %v", r.GetStatus(), err)
	}
	big, err := c.Query(root, &milvuspb.QueryRequest{CollectionName: "big", Expr: "id > 0", OutputFields: []string{"vec"},
		QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "3000"}}}, grpc.MaxCallRecvMsgSize(64<<20))
	if err != nil || big.GetStatus().GetCode() != 0 || proto.Size(big) < 1<<20 {
		t.Fatalf("large query: %v %v", big.GetStatus(), err)
	}
	const dimReason = "the dim (16) of field data(vec) is not equal to schema dim (8)"
	badDim := func(opts ...grpc.CallOption) {
		t.Helper()
		r, err := c.Insert(root, insertRequest("docs", 2, 2*dim), opts...)
		if err != nil || r.GetStatus().GetCode() != 1100 || !strings.Contains(r.GetStatus().GetReason(), dimReason) {
			t.Fatalf("bad-dim insert: %v %v", r.GetStatus(), err)
		}
	}
	badDim()                                                // single pass: ext_authz refuses, the responder answers
	badDim(grpc.UseCompressor("gzip"))                      // the same, gzip-compressed
	r, err := c.Insert(root, insertRequest("big", 300, 64)) // 77 KB: ext_proc refuses
	if err != nil || r.GetStatus().GetCode() != 1100 {
		t.Fatalf("large bad-dim insert: %v %v", r.GetStatus(), err)
	}
	reader := testenv.Auth(ctx, "reader", "Reader-pw1")
	const denial = "PrivilegeInsert: permission deny to reader in the `default` database"
	if _, err := c.Insert(reader, insertRequest("docs", 1, dim)); status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != denial {
		t.Fatalf("reader insert: %v", err)
	}
	if _, err := c.HasCollection(testenv.Auth(ctx, "root", "wrong-pw"), &milvuspb.HasCollectionRequest{CollectionName: "docs"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	// The limit's bucket holds 0.001 queries: the first passes, the second is refused.
	for i, want := range []int32{0, 8} {
		q, err := c.Query(root, &milvuspb.QueryRequest{CollectionName: "limited", Expr: "id > 0"})
		if err != nil || q.GetStatus().GetCode() != want {
			t.Fatalf("query %d on limited: %v %v, want code %d", i, q.GetStatus(), err, want)
		}
	}
	// Filters are the backend's to parse: milvus-lite answers inside a gRPC OK.
	bad, err := c.Query(root, &milvuspb.QueryRequest{CollectionName: "docs", Expr: "nosuchfield > 1"})
	if err != nil || bad.GetStatus().GetCode() == 0 {
		t.Fatalf("query with an unknown field: %v %v, want a Milvus error", bad.GetStatus(), err)
	}
	if r, err := c.Search(root, searchRequest("docs", dim), grpc.UseCompressor("gzip")); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("gzip search: %v %v", r.GetStatus(), err)
	}
	rest := func(api, body string, token ...string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(root, http.MethodPost, "http://"+p.Listener+"/v2/vectordb/"+api, strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer "+append(token, "root:Milvus")[0])
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := rest("collections/describe", `{"collectionName":"docs"}`); !strings.Contains(got, `"code":10`) { // milvus-lite serves no REST
		t.Fatalf("REST describe: %s", got)
	}
	if got := rest("entities/query", `{"collectionName":"1abc"}`); !strings.Contains(got, `"code":1100`) {
		t.Fatalf("REST query with a bad name: %s", got)
	}
	if got := rest("collections/has", `{"collectionName":"docs"}`, "root:wrong-pw"); !strings.Contains(got, `"code":1800`) {
		t.Fatalf("REST with a wrong password: %s", got)
	}
	if got := rest("collections/describe", `{"collectionName":"via_rest"}`); !strings.Contains(got, `"code":`) {
		t.Fatalf("REST to a backend without REST: %s", got)
	}
	e.Stop(t) // flushes Envoy's access log

	lines := readJSONLines(t, accessLog)
	find := func(what string, match map[string]any) map[string]any {
		t.Helper()
		for _, l := range lines {
			if matches(l, match) {
				return l
			}
		}
		t.Fatalf("%s: no access log line with %v in %d lines:\n%s", what, match, len(lines), dump(lines))
		return nil
	}
	// Every line has every field (null when it does not apply).
	for _, k := range []string{"time", "client", "user", "surface", "api", "db", "collection", "partition", "nq", "topk", "num_rows",
		"milvus_code", "error_code", "reason", "refused", "grpc_status", "http_status", "bytes_in", "bytes_out",
		"duration_ms", "upstream_ms", "decision_id", "trace_id", "route", "cluster", "forward", "path", "protocol", "flags", "class"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("access log line without %q: %v", k, lines[0])
		}
	}
	for _, tc := range []struct {
		what  string
		match map[string]any // the line with these values …
		want  map[string]any // … has these ("*": any non-empty value; nil: absent)
	}{
		{"search", map[string]any{"api": "Search", "collection": "docs", "refused": nil, "protocol": "HTTP/2", "path": "/milvus.proto.milvus.MilvusService/Search"},
			map[string]any{"surface": "grpc", "db": "default", "user": "root", "nq": 1.0, "topk": 3.0, "milvus_code": 0.0, "error_code": nil, "reason": nil,
				"grpc_status": 0.0, "http_status": 200.0, "cluster": "default", "forward": "passthrough", "decision_id": "*", "trace_id": nil, "route": "*", "class": "read"}},
		{"large query result", map[string]any{"api": "Query", "collection": "big"},
			map[string]any{"milvus_code": 0.0, "grpc_status": 0.0, "cluster": "default", "class": "read"}},
		{"bad-dim insert, single pass", map[string]any{"api": "Insert", "collection": "docs", "num_rows": 2.0, "refused": "validation", "protocol": "HTTP/2"},
			map[string]any{"user": "root", "milvus_code": 1100.0, "reason": "*" + dimReason, "grpc_status": 0.0, "cluster": "milvus_edge_filters", "route": "milvus-edge-reject"}},
		{"bad-dim insert, through ext_proc", map[string]any{"api": "Insert", "collection": "big", "refused": "validation"},
			map[string]any{"user": "root", "num_rows": 300.0, "milvus_code": 1100.0, "reason": "*the dim (64)", "grpc_status": 0.0, "cluster": "milvus_edge_filters"}},
		{"policy denial", map[string]any{"api": "Insert", "user": "reader"},
			map[string]any{"refused": "policy", "collection": "docs", "num_rows": 1.0, "milvus_code": nil, "reason": denial, "grpc_status": 7.0,
				"upstream": nil, "upstream_ms": nil, "flags": "UAEX"}}, // cluster: the one the route would have taken
		{"failed login", map[string]any{"api": "HasCollection", "refused": "auth"},
			map[string]any{"user": nil, "surface": "grpc", "db": "default", "reason": "auth check failure, please check username and password are correct", "grpc_status": 16.0, "milvus_code": nil,
				"upstream": nil, "flags": "UAEX"}},
		{"rate limit", map[string]any{"api": "Query", "collection": "limited", "refused": "rate_limit"},
			map[string]any{"user": "root", "milvus_code": 8.0, "reason": "*rate limit exceeded", "grpc_status": 0.0, "cluster": "milvus_edge_filters"}},
		{"backend error in a gRPC OK", map[string]any{"api": "Query", "collection": "docs"},
			map[string]any{"refused": nil, "milvus_code": float64(bad.GetStatus().GetCode()), "reason": bad.GetStatus().GetReason(), "grpc_status": 0.0, "cluster": "default"}},
		{"REST answered by the edge", map[string]any{"api": "DescribeCollection", "surface": "rest"},
			map[string]any{"collection": "docs", "milvus_code": 10.0, "reason": "*serves no REST", "http_status": 200.0, "protocol": "HTTP/1.1", "refused": nil}},
		{"REST refused by ext_proc", map[string]any{"api": "Query", "surface": "rest"},
			map[string]any{"refused": "validation", "milvus_code": 1100.0, "reason": "*", "http_status": 200.0}},
		{"REST answered by Envoy for a failed backend", map[string]any{"api": "DescribeCollection", "collection": "via_rest"},
			map[string]any{"cluster": "restful", "milvus_code": "*", "reason": "*Milvus backend", "refused": nil}}, // Envoy's JSON local reply (buildRESTLocalReply)
		{"REST failed login", map[string]any{"api": "HasCollection", "surface": "rest"},
			map[string]any{"refused": "auth", "user": nil, "milvus_code": 1800.0, "reason": "user hasn't authenticated", "http_status": 401.0}},
	} {
		l := find(tc.what, tc.match)
		for k, want := range tc.want {
			got := l[k]
			switch w, _ := want.(string); {
			case w == "*" && got != nil && got != "":
			case strings.HasPrefix(w, "*") && len(w) > 1:
				if s, _ := got.(string); !strings.Contains(s, w[1:]) {
					t.Errorf("%s: %s = %v, want it to contain %q\n%v", tc.what, k, got, w[1:], l)
				}
			case got != want:
				t.Errorf("%s: %s = %v, want %v\n%v", tc.what, k, got, want, l)
			}
		}
	}
	// The large answers' sizes and the upstream time of a forwarded call.
	if l := find("large query result", map[string]any{"api": "Query", "collection": "big"}); l["bytes_out"].(float64) < 1<<20 {
		t.Errorf("large query: bytes_out %v, want > 1 MiB", l["bytes_out"])
	}
	// num_rows of an insert larger than ext_authz's prefix comes from ext_proc.
	if l := find("large insert", map[string]any{"api": "Insert", "collection": "big", "milvus_code": 0.0}); l["bytes_in"].(float64) < 1<<20 || l["upstream_ms"] == nil || l["num_rows"] != 3000.0 || l["class"] != "write" {
		t.Errorf("large insert: bytes_in %v upstream_ms %v num_rows %v class %v, want > 1 MiB, a duration, 3000 and write (set by ext_proc)", l["bytes_in"], l["upstream_ms"], l["num_rows"], l["class"])
	}
	// Both gzip calls were read: the refusal (the responder answers
	// uncompressed) and the search.
	var gzipRefusals, searches int
	for _, l := range lines {
		if matches(l, map[string]any{"api": "Insert", "collection": "docs", "refused": "validation", "milvus_code": 1100.0}) {
			gzipRefusals++
		}
		if matches(l, map[string]any{"api": "Search", "collection": "docs", "milvus_code": 0.0}) {
			searches++
		}
	}
	if gzipRefusals != 2 || searches != 2 {
		t.Errorf("bad-dim insert lines with code 1100: %d, search lines with code 0: %d; want 2 each (one gzip-compressed)", gzipRefusals, searches)
	}
}

// matches says line l has every value of m (nil: the field is null).
func matches(l, m map[string]any) bool {
	for k, v := range m {
		if l[k] != v {
			return false
		}
	}
	return true
}

func dump(lines []map[string]any) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}
