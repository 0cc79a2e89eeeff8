package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/promproc"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// dashboardFile is the Grafana dashboard whose every query must return data.
const dashboardFile = "deploy/grafana/milvus-edge.json"

// workload is one round of the scripted calls the Prometheus tests count.
type workload struct {
	searches int // Search on docs as root: answered by the backend
	inserts  int // Insert of 2 rows into docs as root: answered by the backend
	refusals int // Search on docs with a wrong vector dim: refused by validation (65535)
	denials  int // Insert into docs as reader: refused by the policy (PermissionDenied)
	limited  int // Query on limited as root: refused by the rate limit (code 8)
	rest     int // REST describe of docs as root: answered by the edge (the cluster is gRPC-only)
}

// times is w repeated n times.
func (w workload) times(n int) workload {
	return workload{w.searches * n, w.inserts * n, w.refusals * n, w.denials * n, w.limited * n, w.rest * n}
}

const (
	promDim        = 8
	promInsertRows = 2
)

// promStack is an edge in front of milvus-lite (a gRPC-only cluster) with
// the default policy's root and a reader (rbacData), a query_qps 0.001 limit
// on default.limited, an admin token, and a real Prometheus scraping the
// edge admin's /metrics (with the token) and Envoy's /stats/prometheus every
// second.
type promStack struct {
	e    *testenv.Edge
	c    milvuspb.MilvusServiceClient
	prom *promproc.Server
}

func startPromStack(t *testing.T) *promStack {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	bundle := testenv.PolicyBundle(t, rbacData(t, ""))
	// The admin API wants a token, as in docker-compose.yml: Prometheus
	// sends it from the file (authorization.credentials_file).
	token := filepath.Join(t.TempDir(), "admin-token")
	testenv.WriteFile(t, token, "prometheus-test-admin-token\n")
	head := strings.Replace(p.ConfigHead(), "edge: {", "edge: {admin_token_file: "+token+", ", 1)
	e := testenv.Run(t, head+fmt.Sprintf(`auth: {policy_dir: %s}
rate_limit:
  enabled: true
  properties: false
  collections:
    - {database: default, name: limited, query_qps: 0.001}
clusters:
  - name: default
    rest: false
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, bundle, backend), p)
	s := &promStack{e: e, c: testenv.Client(t, p.Listener)}
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 30*time.Second)
	defer cancel()
	createVectorCollection(ctx, t, s.c, "docs", promDim)
	createVectorCollection(ctx, t, s.c, "limited", promDim)
	// The limit's bucket holds 0.001 calls: this query passes and leaves it
	// in debt for 1,000 s, so that every later one is refused (code 8).
	if r, err := s.c.Query(ctx, limitedQuery()); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("first query on limited: %v %v", r.GetStatus(), err)
	}
	s.prom = testenv.Prometheus(t, p.PrometheusTargets(token)...)
	return s
}

func limitedQuery() *milvuspb.QueryRequest {
	return &milvuspb.QueryRequest{CollectionName: "limited", Expr: "id > 0",
		QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "3"}}}
}

// run makes w's calls and checks that each was answered as the workload
// says: successes succeed, refusals carry the refusal's code.
func (s *promStack) run(t *testing.T, w workload) {
	t.Helper()
	// Every call of a round shares one deadline.
	root, cancel := context.WithTimeout(testenv.Root(context.Background()), 60*time.Second)
	defer cancel()
	reader, cancelReader := context.WithTimeout(testenv.Auth(context.Background(), "reader", "Reader-pw1"), 60*time.Second)
	defer cancelReader()
	for i := range w.searches {
		r, err := s.c.Search(root, searchRequest("docs", promDim))
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("search %d: %v %v", i, r.GetStatus(), err)
		}
	}
	for i := range w.inserts {
		r, err := s.c.Insert(root, insertRequest("docs", promInsertRows, promDim))
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("insert %d: %v %v", i, r.GetStatus(), err)
		}
	}
	for i := range w.refusals {
		r, err := s.c.Search(root, searchRequest("docs", promDim/2))
		if err != nil || r.GetStatus().GetCode() != 65535 {
			t.Fatalf("wrong-dim search %d: %v %v, want code 65535", i, r.GetStatus(), err)
		}
	}
	for i := range w.denials {
		_, err := s.c.Insert(reader, insertRequest("docs", promInsertRows, promDim))
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("reader insert %d: %v, want PermissionDenied", i, err)
		}
	}
	for i := range w.limited {
		r, err := s.c.Query(root, limitedQuery())
		if err != nil || r.GetStatus().GetCode() != 8 {
			t.Fatalf("limited query %d: %v %v, want code 8", i, r.GetStatus(), err)
		}
	}
	for i := range w.rest {
		req, _ := http.NewRequestWithContext(root, http.MethodPost, "http://"+s.e.Ports.Listener+"/v2/vectordb/collections/describe",
			strings.NewReader(`{"collectionName": "docs"}`))
		req.Header.Set("Authorization", "Bearer root:Milvus")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("REST describe %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"code"`) {
			t.Fatalf("REST describe %d: HTTP %d %s, want Milvus's JSON", i, resp.StatusCode, body)
		}
	}
}

// scrapes waits until Prometheus has stored n more scrapes of both targets.
func (s *promStack) scrapes(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.prom.WaitScrapes(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// query runs expr against the stack's Prometheus.
func (s *promStack) query(t *testing.T, expr string) []promproc.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := s.prom.Query(ctx, expr)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPrometheusScrapesTheEdge: a real Prometheus scrapes a running edge
// and its Envoy while a scripted workload runs in two rounds (one scrape
// between them, so that every counter the workload moves exists before its
// second round and rate() sees an increase). Then its HTTP API answers the
// workload's exact counts, and every query of the Grafana dashboard returns
// data.
func TestPrometheusScrapesTheEdge(t *testing.T) {
	s := startPromStack(t)
	s.scrapes(t, 1)
	round := workload{searches: 5, inserts: 3, refusals: 2, denials: 2, limited: 2, rest: 1}
	s.run(t, round)
	// Envoy merges its histograms once a second: two scrapes let round
	// one's counts reach Prometheus before round two starts.
	s.scrapes(t, 2)
	s.run(t, round)
	s.scrapes(t, 2)
	w := round.times(2)
	t.Run("exact counts", func(t *testing.T) { checkCounts(t, s, w) })
	t.Run("dashboard queries return data", func(t *testing.T) { checkDashboard(t, s) })
}

// checkCounts compares Prometheus's counters with the workload w made: the
// Milvus Proxy's req_count by function and status, the vectors searched and
// inserted, and the edge's own refusal, decision and rate-limit counters.
// The stack's setup made CreateCollection ×2 and one Query that passed.
// The per-call counters are Envoy's, read at each scrape: a count below
// the workload's (a scrape before the last calls finished) is asked again
// after another scrape (5 at most); one above it fails at once, as
// counters never go down.
func checkCounts(t *testing.T, s *promStack, w workload) {
	for attempt := 1; ; attempt++ {
		diffs, over := countDiffs(t, s, w)
		if len(diffs) == 0 {
			t.Logf("counts exact after %d look(s)", attempt)
			return
		}
		if over || attempt == 5 {
			for _, d := range diffs {
				t.Error(d)
			}
			return
		}
		s.scrapes(t, 1)
	}
}

// countDiffs returns what differs from w's counts, and whether a count is
// above it.
func countDiffs(t *testing.T, s *promStack, w workload) (diffs []string, over bool) {
	got := map[string]float64{}
	for _, smp := range s.query(t, `sum by (function_name, status) (milvus_proxy_req_count{job="milvus-edge"})`) {
		got[smp.Metric["function_name"]+"/"+smp.Metric["status"]] = smp.Value
	}
	want := map[string]float64{
		"Search/success": float64(w.searches), "Search/fail": float64(w.refusals), "Search/total": float64(w.searches + w.refusals),
		"Insert/success": float64(w.inserts), "Insert/fail": float64(w.denials), "Insert/total": float64(w.inserts + w.denials),
		"Query/success": 1, "Query/fail": float64(w.limited), "Query/total": float64(1 + w.limited),
		"DescribeCollection/fail": float64(w.rest), "DescribeCollection/total": float64(w.rest),
		"CreateCollection/success": 2, "CreateCollection/total": 2,
	}
	// Only the functions the test called: the edge's own readiness probe
	// (GetVersion through Envoy at start) is a call through Envoy too.
	for k := range got {
		if fn, _, _ := strings.Cut(k, "/"); !slices.Contains([]string{"Search", "Insert", "Query", "DescribeCollection", "CreateCollection"}, fn) {
			delete(got, k)
		}
	}
	for _, k := range sortedKeys(got, want) {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("milvus_proxy_req_count by function_name/status: %s = %v, want %v", k, got[k], want[k]))
			over = over || got[k] > want[k]
		}
	}

	for _, c := range []struct {
		expr string
		want float64
	}{
		{`sum(milvus_proxy_search_vectors_count{job="milvus-edge"})`, float64(w.searches)},
		{`sum(milvus_proxy_insert_vectors_count{job="milvus-edge"})`, float64(w.inserts * promInsertRows)},
		{`sum(milvus_proxy_req_count{job="milvus-edge", status="total", collection_name="docs"})`, float64(1 + w.searches + w.refusals + w.inserts + w.denials + w.rest)},
		{`sum(milvus_proxy_user_rpc_count{job="milvus-edge", username="reader"})`, float64(w.denials)},
		{`sum(milvus_proxy_restful_api_req_count{job="milvus-edge", path="/v2/vectordb/collections/describe"})`, float64(w.rest)},
		{`sum(milvus_proxy_rate_limit_req_count{job="milvus-edge", msg_type="DQLQuery", status="fail"})`, float64(w.limited)},
		{`sum(milvus_edge_refusals_total{job="milvus-edge", by="validation"})`, float64(w.refusals)},
		{`sum(milvus_edge_refusals_total{job="milvus-edge", by="policy"})`, float64(w.denials)},
		{`sum(milvus_edge_refusals_total{job="milvus-edge", by="rate_limit"})`, float64(w.limited)},
		{`sum(milvus_edge_authz_decisions_total{job="milvus-edge", decision="deny_policy"})`, float64(w.denials)},
		{`sum(milvus_edge_authz_decisions_total{job="milvus-edge", decision="rate_limited"})`, float64(w.limited)},
		{`sum(milvus_edge_rate_limit_checks_total{job="milvus-edge", rate_type="DQLQuery", result="refused"})`, float64(w.limited)},
	} {
		got := s.query(t, c.expr)
		if len(got) != 1 || got[0].Value != c.want {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", c.expr, got, c.want))
			over = over || len(got) == 1 && got[0].Value > c.want
		}
	}
	return diffs, over
}

// sortedKeys returns the keys of a and b, sorted.
func sortedKeys(a, b map[string]float64) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	return sorted
}

// The parts of a Grafana dashboard the test reads.
type grafanaDashboard struct {
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's panels
}

// grafanaVar matches $name, ${name} and ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// labelValues matches Grafana's label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)

// checkDashboard runs every PromQL expression of the dashboard, and every
// template variable's label_values query, against Prometheus, with Grafana's
// variables replaced by concrete values; each must return at least one
// sample that is a number (not NaN).
func checkDashboard(t *testing.T, s *promStack) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	nodes := s.query(t, `group by (node_id) (milvus_proxy_req_count{job="milvus-edge"})`)
	if len(nodes) != 1 || nodes[0].Metric["node_id"] == "" {
		t.Fatalf("node_id values of milvus_proxy_req_count: %v, want one", nodes)
	}
	vars := map[string]string{
		"job":             "milvus-edge",
		"envoy_job":       "envoy",
		"node_id":         nodes[0].Metric["node_id"],
		"collection":      "docs",
		"__rate_interval": "1m",
		"__range":         "10m",
	}
	subst := func(where, expr string) string {
		return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
			sm := grafanaVar.FindStringSubmatch(m)
			name := sm[1] + sm[2]
			v, ok := vars[name]
			if !ok {
				t.Errorf("%s: variable $%s has no test value", where, name)
			}
			return v
		})
	}
	var exprs []string
	var run func(ps []grafanaPanel)
	run = func(ps []grafanaPanel) {
		for _, p := range ps {
			run(p.Panels)
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)
				exprs = append(exprs, where+"\x00"+subst(where, tg.Expr))
			}
		}
	}
	run(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		def, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(def)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, def)
			continue
		}
		where := "variable " + v.Name
		exprs = append(exprs, where+"\x00"+fmt.Sprintf("group by (%s) (%s)", m[2], subst(where, m[1])))
	}
	if len(exprs) < 30 {
		t.Fatalf("%s: only %d queries found", dashboardFile, len(exprs))
	}
	for _, e := range exprs {
		where, expr, _ := strings.Cut(e, "\x00")
		got := s.query(t, expr)
		numbers := 0
		for _, smp := range got {
			if !math.IsNaN(smp.Value) {
				numbers++
			}
		}
		if numbers == 0 {
			t.Errorf("%s returned no data: %s → %v", where, expr, got)
		} else {
			t.Logf("%s: %d series", where, len(got))
		}
	}
}
