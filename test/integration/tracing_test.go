package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
	"github.com/milvus-edge/milvus-edge/internal/otlpreceiver"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// Span names and services of a traced call (internal/edgetrace: the edge's
// own spans, and Envoy's server and upstream spans, which the edge makes
// from the call's access-log entry under the service "<name>-envoy").
const (
	envoySvc        = "milvus-edge-envoy"
	edgeSvc         = "milvus-edge"
	envoyRouterSpan = "router default egress"
	searchPath      = "/milvus.proto.milvus.MilvusService/Search"
	insertPath      = "/milvus.proto.milvus.MilvusService/Insert"
)

// edge is one expected parent/child link: child (service, name) under
// parent (service, name).
type edge struct{ parentSvc, parent, childSvc, child string }

// TestTracing runs real Envoy, the edge and milvus-lite exporting to a real
// OTLP/gRPC receiver: a search yields one trace — the server span S (the
// call as Envoy handled it), the edge's ext_authz span under it (policy,
// rate limit, validation and the schema fill inside), and Envoy's upstream
// span U — and its trace id is in the access log and the decision log. A
// call too large for the single pass shows ext_proc's validation under S.
// With sampling 0 (applied at once: ext_authz decides) only a client's
// sampled traceparent is traced; unsampled calls leave no span and no trace
// id in the access log. A fake Milvus (internal/fakemilvus: milvus-lite
// does not tell which metadata it received) shows that the backend's
// traceparent names U and that the edge's hand-over header does not reach
// it.
func TestTracing(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	otlp := testenv.OTLPReceiver(t)
	dir := t.TempDir()
	access, decisions := filepath.Join(dir, "access.log"), filepath.Join(dir, "decisions.log")
	fakeAddr, fake := fakemilvus.Start(t)
	fake.Add(fakemilvus.Collection{Schema: &schemapb.CollectionSchema{Name: "peek", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
	}}})
	p := testenv.NewPorts(t)
	config := func(sampling string) string {
		head := strings.Replace(p.ConfigHead(), "listener: {address: "+p.Listener+"}", "listener: {address: "+p.Listener+", access_log: "+access+"}", 1)
		return head + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
  - name: fake
    endpoints: [{address: %s}]
    health: {kind: none}   # the fake serves no CheckHealth
routes:
  - {collection: peek, cluster: fake}
  - cluster: default
auth: {decision_log: %s, max_body_bytes: 8192}
validation: {watch_every: 1h}
rate_limit: {enabled: true, properties: false, edge: {search_vps: 1000000, insert_mb: 100000}}
tracing: {otlp_endpoint: %s, sampling: %s}
`, backend, fakeAddr, decisions, otlp.Addr, sampling)
	}
	e := testenv.Run(t, config("1.0"), p)
	c := testenv.Client(t, p.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 150*time.Second)
	defer cancel()

	schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: "traced", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "8"}}},
	}})
	if st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: "traced", Schema: schema}); err != nil || st.GetCode() != 0 {
		t.Fatalf("create: %v %v", st, err)
	}

	t.Run("ext_proc path", func(t *testing.T) {
		// 400 rows do not fit ext_authz's 8 KiB: ext_proc validates, and
		// fills the schema (the first validated call).
		id := accessLine(t, access, insertPath, func() {
			r, err := c.Insert(ctx, insertRequest("traced", 400, 8))
			if err != nil || r.GetStatus().GetCode() != 0 {
				t.Fatalf("insert: %v %v", r.GetStatus(), err)
			}
		})["trace_id"]
		spans := otlp.WaitTrace(t, id, 20*time.Second, hasAll(envoyRouterSpan, "schema fill", "validation", "policy", "rate limit"))
		t.Logf("Insert trace %s:\n%s", id, otlpreceiver.Tree(spans))
		checkTree(t, spans, insertPath, []edge{
			{envoySvc, insertPath, edgeSvc, "ext_authz"},
			{edgeSvc, "ext_authz", edgeSvc, "policy"},
			{edgeSvc, "ext_authz", edgeSvc, "rate limit"},
			{envoySvc, insertPath, edgeSvc, "validation"}, // ext_proc's
			{edgeSvc, "validation", edgeSvc, "schema fill"},
			{envoySvc, insertPath, envoySvc, envoyRouterSpan},
		})
	})

	var searchTrace string
	t.Run("single pass search, the edge samples", func(t *testing.T) {
		// Drop the cached schema so that this search fills it.
		resp, err := http.Post("http://"+p.Admin+"/v1/cache/invalidate", "application/json", strings.NewReader(`{"collection": "traced"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		line := accessLine(t, access, searchPath, func() {
			r, err := c.Search(ctx, searchRequest("traced", 8))
			if err != nil || r.GetStatus().GetCode() != 0 {
				t.Fatalf("search: %v %v", r.GetStatus(), err)
			}
		})
		searchTrace = line["trace_id"]
		spans := otlp.WaitTrace(t, searchTrace, 20*time.Second, hasAll(envoyRouterSpan, "schema fill", "validation", "policy", "rate limit", "ext_authz"))
		t.Logf("Search trace %s:\n%s", searchTrace, otlpreceiver.Tree(spans))
		root := checkTree(t, spans, searchPath, []edge{
			{envoySvc, searchPath, edgeSvc, "ext_authz"},
			{edgeSvc, "ext_authz", edgeSvc, "policy"},
			{edgeSvc, "ext_authz", edgeSvc, "rate limit"},
			{edgeSvc, "ext_authz", edgeSvc, "validation"},
			{edgeSvc, "validation", edgeSvc, "schema fill"},
			{envoySvc, searchPath, envoySvc, envoyRouterSpan},
		})
		if root.ParentID != "" {
			t.Errorf("the server span has parent %s; the edge started this trace", root.ParentID)
		}
		if root.Attrs["grpc.status_code"] != "0" || root.Attrs["http.status_code"] != "200" || root.Attrs["upstream_cluster"] != "default" ||
			root.Attrs["milvus.code"] != "0" || root.Attrs["response_flags"] != "-" || root.Attrs["upstream_address"] == "" {
			t.Errorf("server span attributes %v", root.Attrs)
		}
		// S and U carry Envoy's timings: U inside S.
		u := find(spans, envoySvc, envoyRouterSpan)
		if u.Kind != tracev1.Span_SPAN_KIND_CLIENT || u.Start.Before(root.Start) || u.End.After(root.End) || !u.End.After(u.Start) {
			t.Errorf("upstream span %v..%v (%v) not inside the server span %v..%v", u.Start, u.End, u.Kind, root.Start, root.End)
		}
		t.Logf("server span %v, upstream span %v", root.End.Sub(root.Start), u.End.Sub(u.Start))
		a := find(spans, edgeSvc, "ext_authz")
		if a.Kind != tracev1.Span_SPAN_KIND_SERVER || a.Attrs["milvus.api"] != "Search" || a.Attrs["milvus_edge.user"] != "root" || a.Attrs["milvus_edge.allow"] != "true" {
			t.Errorf("ext_authz span: kind %v, attributes %v", a.Kind, a.Attrs)
		}
		if a.Attrs["milvus_edge.decision_id"] != line["decision_id"] {
			t.Errorf("ext_authz span decision id %q, access log %q", a.Attrs["milvus_edge.decision_id"], line["decision_id"])
		}
		if rec := decisionWithTrace(t, decisions, searchTrace); rec["api"] != "Search" || rec["decision_id"] != line["decision_id"] {
			t.Errorf("decision log record of trace %s: %v", searchTrace, rec)
		}
	})

	t.Run("the backend's traceparent names U", func(t *testing.T) {
		// A client's sampled traceparent, to the fake Milvus.
		const client = "00-5bf92f3577b34da6a3ce929d0e0e4736-10f067aa0ba902b7-01"
		before := fake.Calls(fakemilvus.DescribeCollection)
		r, err := c.DescribeCollection(metadata.AppendToOutgoingContext(ctx, "traceparent", client), &milvuspb.DescribeCollectionRequest{CollectionName: "peek"})
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("describe: %v %v", r.GetStatus(), err)
		}
		if n := fake.Calls(fakemilvus.DescribeCollection) - before; n != 1 {
			t.Fatalf("%d DescribeCollection calls at the fake, want the client's one", n)
		}
		md := fake.Metadata(fakemilvus.DescribeCollection)
		if got := md.Get("x-milvus-edge-trace"); len(got) != 0 {
			t.Errorf("the backend got the edge's hand-over header %v", got)
		}
		tp := md.Get("traceparent")
		if len(tp) != 1 || !strings.HasPrefix(tp[0], "00-5bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(tp[0], "-01") {
			t.Fatalf("backend traceparent %v, want the client's trace, sampled", tp)
		}
		describe := "/milvus.proto.milvus.MilvusService/DescribeCollection"
		spans := otlp.WaitTrace(t, "5bf92f3577b34da6a3ce929d0e0e4736", 20*time.Second, hasAll("router fake egress", "ext_authz"))
		t.Logf("DescribeCollection trace (backend got traceparent %s):\n%s", tp[0], otlpreceiver.Tree(spans))
		root := checkTree(t, spans, describe, []edge{
			{envoySvc, describe, edgeSvc, "ext_authz"},
			{envoySvc, describe, envoySvc, "router fake egress"},
		})
		if root.ParentID != "10f067aa0ba902b7" {
			t.Errorf("server span parent %q, want the client's span", root.ParentID)
		}
		if u := find(spans, envoySvc, "router fake egress"); tp[0] != "00-5bf92f3577b34da6a3ce929d0e0e4736-"+u.SpanID+"-01" {
			t.Errorf("backend traceparent %s, upstream span %s", tp[0], u.SpanID)
		}
	})

	t.Run("sampling 0", func(t *testing.T) {
		hash := regexp.MustCompile(`"file_hash":\s*"([^"]*)"`)
		loaded := func() string {
			m := hash.FindStringSubmatch(testenv.AdminGet(t, p.Admin, "/v1/status"))
			if m == nil {
				t.Fatal("no file_hash in /v1/status")
			}
			return m[1]
		}
		old := loaded()
		e.WriteConfig(t, config("0"))
		testenv.Eventually(t, 10*time.Second, "the edge reloads its config", func() bool { return loaded() != old })
		search := func(ctx context.Context) func() {
			return func() {
				if r, err := c.Search(ctx, searchRequest("traced", 8)); err != nil || r.GetStatus().GetCode() != 0 {
					t.Fatalf("search: %v %v", r.GetStatus(), err)
				}
			}
		}
		// ext_authz reads the sampling on every call: the reload applies to
		// the open connection at once. An untraced call has no trace id.
		since := time.Now()
		// Not traced: no traceparent, or the client's says no.
		if got := accessLine(t, access, searchPath, search(ctx))["trace_id"]; got != "<nil>" {
			t.Errorf("access log trace_id %q of an untraced call, want null", got)
		}
		const clientUnsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
		if got := accessLine(t, access, searchPath, search(metadata.AppendToOutgoingContext(ctx, "traceparent", clientUnsampled)))["trace_id"]; got != "<nil>" {
			t.Errorf("access log trace_id %q of a call with an unsampled traceparent, want null", got)
		}
		// The client's sampled traceparent is honoured: its trace, its span
		// as the parent of the server span.
		const clientSampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		line := accessLine(t, access, searchPath, search(metadata.AppendToOutgoingContext(ctx, "traceparent", clientSampled)))
		if got := line["trace_id"]; got != "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("access log trace_id %q, want the client's", got)
		}
		spans := otlp.WaitTrace(t, "0af7651916cd43dd8448eb211c80319c", 20*time.Second, hasAll(envoyRouterSpan, "validation", "policy", "ext_authz"))
		t.Logf("the client's sampled trace at sampling 0:\n%s", otlpreceiver.Tree(spans))
		root := checkTree(t, spans, searchPath, []edge{
			{envoySvc, searchPath, edgeSvc, "ext_authz"},
			{edgeSvc, "ext_authz", edgeSvc, "validation"},
			{envoySvc, searchPath, envoySvc, envoyRouterSpan},
		})
		if root.ParentID != "b7ad6b7169203331" {
			t.Errorf("server span parent %q, want the client's span", root.ParentID)
		}
		if rec := decisionWithTrace(t, decisions, "0af7651916cd43dd8448eb211c80319c"); rec["decision_id"] != line["decision_id"] {
			t.Errorf("decision log record of the client's trace: %v", rec)
		}
		// The entries reach the edge in order, and spans are exported in
		// the order they end: the sampled call's server span arriving
		// means the unsampled calls' would have arrived too.
		if s := otlp.Trace("4bf92f3577b34da6a3ce929d0e0e4736"); len(s) != 0 {
			t.Errorf("unsampled trace has spans:\n%s", otlpreceiver.Tree(s))
		}
		for _, s := range otlp.Spans() {
			if s.Start.After(since) && s.TraceID != "0af7651916cd43dd8448eb211c80319c" {
				t.Errorf("a span of trace %s (%s: %s) started after sampling 0", s.TraceID, s.Service, s.Name)
			}
		}
	})
}

// hasAll says the spans hold every name.
func hasAll(names ...string) func([]otlpreceiver.Span) bool {
	return func(spans []otlpreceiver.Span) bool {
		for _, n := range names {
			if count(spans, n) == 0 {
				return false
			}
		}
		return true
	}
}

func count(spans []otlpreceiver.Span, name string) int {
	n := 0
	for _, s := range spans {
		if s.Name == name {
			n++
		}
	}
	return n
}

func find(spans []otlpreceiver.Span, svc, name string) otlpreceiver.Span {
	for _, s := range spans {
		if s.Service == svc && s.Name == name {
			return s
		}
	}
	return otlpreceiver.Span{}
}

// checkTree checks one trace: a single root, Envoy's server span for path,
// each span once, and every expected parent/child link; it returns the root.
func checkTree(t *testing.T, spans []otlpreceiver.Span, path string, links []edge) otlpreceiver.Span {
	t.Helper()
	byID := map[string]otlpreceiver.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	var roots []otlpreceiver.Span
	for _, s := range spans {
		if _, ok := byID[s.ParentID]; !ok {
			roots = append(roots, s)
		}
	}
	if len(roots) != 1 || roots[0].Service != envoySvc || roots[0].Name != path || roots[0].Kind != tracev1.Span_SPAN_KIND_SERVER {
		t.Fatalf("want one root, Envoy's server span %s; trace:\n%s", path, otlpreceiver.Tree(spans))
	}
	for _, l := range links {
		child := find(spans, l.childSvc, l.child)
		if n := count(spans, l.child); n != 1 {
			t.Errorf("%d spans %q, want 1", n, l.child)
			continue
		}
		parent := byID[child.ParentID]
		if parent.Service != l.parentSvc || parent.Name != l.parent {
			t.Errorf("%s: %s has parent %s: %s, want %s: %s", l.childSvc, l.child, parent.Service, parent.Name, l.parentSvc, l.parent)
		}
	}
	return roots[0]
}

// accessLine runs call and returns the access log line it made for
// reqPath: the first one after those already written (Envoy flushes the
// file every 10 s, its --file-flush-interval-msec default).
func accessLine(t *testing.T, path, reqPath string, call func()) map[string]string {
	t.Helper()
	matching := func() []map[string]any {
		var out []map[string]any
		for _, l := range jsonLines(t, path) {
			if l["path"] == reqPath {
				out = append(out, l)
			}
		}
		return out
	}
	n := len(matching())
	call()
	var line map[string]string
	testenv.Eventually(t, 30*time.Second, "access log line for "+reqPath, func() bool {
		ls := matching()
		if len(ls) <= n {
			return false
		}
		line = map[string]string{}
		for k, v := range ls[n] {
			line[k] = fmt.Sprint(v)
		}
		return true
	})
	return line
}

// decisionWithTrace returns the decision log record with trace id id.
func decisionWithTrace(t *testing.T, path, id string) map[string]string {
	t.Helper()
	var rec map[string]string
	testenv.Eventually(t, 5*time.Second, "decision with trace "+id, func() bool {
		for _, l := range jsonLines(t, path) {
			if l["trace_id"] == id {
				rec = map[string]string{}
				for k, v := range l {
					rec[k] = fmt.Sprint(v)
				}
				return true
			}
		}
		return false
	})
	return rec
}

func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
