package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
	"github.com/milvus-edge/milvus-edge/metrics"
)

// TestMetricsCountTheWorkload: after a scripted workload through a real
// Envoy in front of milvus-lite — searches and inserts answered by the
// backend, searches refused by the edge's validation, inserts refused by the
// policy — GET /metrics shows exactly those calls in milvus_proxy_req_count
// (counted in Envoy by the calls filter, read from Envoy's stats at the
// scrape) and in the edge's own counters,
// and promtool accepts the exposition.
func TestMetricsCountTheWorkload(t *testing.T) {
	const (
		searches, inserts, refusals, denials = 5, 3, 2, 4
		rows, dim                            = 10, 8
		coll                                 = "metrics_docs"
	)
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	head := strings.Replace(p.ConfigHead(), "envoy: {", "envoy: {node_id: edge-metrics, ", 1)
	e := testenv.Run(t, head+fmt.Sprintf(`auth: {policy_dir: %s}
clusters:
  - name: default
    endpoints: [{address: %s, weight: 7}]
routes:
  - cluster: default
`, testenv.PolicyBundle(t, rbacData(t, "")), backend), p)
	c := testenv.Client(t, e.Ports.Listener)
	root, cancel := context.WithTimeout(testenv.Root(context.Background()), 60*time.Second)
	defer cancel()
	createVectorCollection(root, t, c, coll, dim)
	before := scrapeWhenSettled(t, e.Ports.Admin)

	for range searches {
		r, err := c.Search(root, searchRequest(coll, dim))
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("Search: %v %v", r.GetStatus(), err)
		}
	}
	for range inserts {
		r, err := c.Insert(root, insertRequest(coll, rows, dim))
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("Insert: %v %v", r.GetStatus(), err)
		}
	}
	for range refusals { // the wrong dimension: the edge answers, typed
		r, err := c.Search(root, searchRequest(coll, dim/2))
		if err != nil || r.GetStatus().GetCode() == 0 {
			t.Fatalf("Search with the wrong dim: %v %v, want a Milvus error", r.GetStatus(), err)
		}
	}
	reader := testenv.Auth(context.Background(), "reader", "Reader-pw1")
	for range denials { // the reader may not insert: the policy refuses
		st := call(t, reader, func(ctx context.Context) error {
			_, err := c.Insert(ctx, insertRequest(coll, rows, dim))
			return err
		})
		if st.Code() != codes.PermissionDenied {
			t.Fatalf("reader Insert: %v, want PermissionDenied", st)
		}
	}
	// GetVersion names no collection: its route skips ext_proc.
	if _, err := c.GetVersion(root, &milvuspb.GetVersionRequest{}); err != nil {
		t.Fatalf("GetVersion: %v", err)
	}
	calls := float64(searches + inserts + refusals + denials + 1)
	// Envoy's counters are read live at the scrape; its histograms are
	// merged at each stats flush (1 s): wait for the latency samples too.
	var after scrape
	testenv.Eventually(t, 10*time.Second, "every call counted, with its latency", func() bool {
		after = scrapeMetrics(t, e.Ports.Admin)
		return callsCounted(after)-callsCounted(before) >= calls && latencySamples(after)-latencySamples(before) >= searches+inserts+1
	})
	if n := callsCounted(after) - callsCounted(before); n != calls {
		t.Errorf("milvus_proxy_req_count{status=\"total\"} +%v, want +%v (one per call)", n, calls)
	}
	req := func(fn, status string) string {
		return fmt.Sprintf(`milvus_proxy_req_count{collection_name=%q,db_name="default",function_name=%q,node_id="edge-metrics",status=%q}`, coll, fn, status)
	}
	edgeCounter := func(name, label, value string) string { return fmt.Sprintf(`%s{%s=%q}`, name, label, value) }
	for _, w := range []struct {
		series string
		want   float64
	}{
		{req("Search", "total"), searches + refusals},
		{req("Search", "success"), searches},
		{req("Search", "fail"), refusals},
		{req("Insert", "total"), inserts + denials},
		{req("Insert", "success"), inserts},
		{req("Insert", "fail"), denials},
		{fmt.Sprintf(`milvus_proxy_search_vectors_count{collection_name=%q,db_name="default",node_id="edge-metrics"}`, coll), searches},
		{fmt.Sprintf(`milvus_proxy_insert_vectors_count{collection_name=%q,db_name="default",node_id="edge-metrics"}`, coll), inserts * rows},
		{`milvus_proxy_user_rpc_count{username="reader"}`, denials},
		{`milvus_proxy_user_rpc_count{username="root"}`, searches + inserts + refusals + 1},
		{edgeCounter("milvus_edge_refusals_total", "by", "validation"), refusals},
		{edgeCounter("milvus_edge_refusals_total", "by", "policy"), denials},
		{edgeCounter("milvus_edge_authz_decisions_total", "decision", "deny_policy"), denials},
		{edgeCounter("milvus_edge_authz_decisions_total", "decision", "allow"), searches + inserts + refusals + 1},
	} {
		if got := after.delta(before, w.series); got != w.want {
			t.Errorf("%s: +%v, want +%v", w.series, got, w.want)
		}
	}
	getVersion := func(sc scrape, status string) float64 {
		return sc.sum(`milvus_proxy_req_count`, `function_name="GetVersion"`, `status="`+status+`"`)
	}
	if got := getVersion(after, "success") - getVersion(before, "success"); got != 1 {
		t.Errorf("GetVersion successes +%v, want +1", got)
	}
	// The latency histogram holds the successful calls.
	if got := after.delta(before, `milvus_proxy_req_latency_count{function_name="Search",node_id="edge-metrics"}`); got != searches {
		t.Errorf("Search latency samples +%v, want +%v", got, searches)
	}
	// The edge's own state, read at the scrape.
	for _, s := range []string{
		fmt.Sprintf(`milvus_edge_endpoint_weight{cluster="default",endpoint=%q}`, backend),
		`milvus_edge_xds_synced`,
	} {
		if after.values[s] < 1 {
			t.Errorf("%s = %v, want ≥ 1", s, after.values[s])
		}
	}
	if after.values[fmt.Sprintf(`milvus_edge_endpoint_weight{cluster="default",endpoint=%q}`, backend)] != 7 {
		t.Errorf("endpoint weight %v, want 7", after.values[fmt.Sprintf(`milvus_edge_endpoint_weight{cluster="default",endpoint=%q}`, backend)])
	}
	for _, typ := range []string{"Listener", "RouteConfiguration", "Cluster", "ClusterLoadAssignment"} {
		if after.values[edgeCounter("milvus_edge_xds_acks_total", "type", typ)] < 1 {
			t.Errorf("no xDS ACK counted for %s", typ)
		}
	}
	if after.values[`milvus_proxy_cache_hit_count{cache_name="GetCollectionSchema",cache_state="miss",node_id="edge-metrics"}`] < 1 {
		t.Error("no schema cache miss counted (the first validated call fills the cache)")
	}
	if got := after.sum("milvus_edge_authz_check_duration_seconds_count") - before.sum("milvus_edge_authz_check_duration_seconds_count"); got != calls {
		t.Errorf("ext_authz Check durations +%v, want +%v (one per call)", got, calls)
	}
	promtoolCheck(t, after.raw)
}

// scrape is one GET /metrics: the raw exposition and every sample by its
// series ("name{label="value",...}", labels sorted).
type scrape struct {
	raw    []byte
	values map[string]float64
}

func (s scrape) delta(before scrape, series string) float64 {
	return s.values[series] - before.values[series]
}

// sum adds the samples of every series of a metric name that has all the
// label pairs given (`name="value"`).
func (s scrape) sum(name string, labels ...string) float64 {
	var n float64
next:
	for k, v := range s.values {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(k, l) {
				continue next
			}
		}
		n += v
	}
	return n
}

func scrapeMetrics(t *testing.T, admin string) scrape {
	t.Helper()
	raw := testenv.AdminGet(t, admin, "/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	s := scrape{raw: []byte(raw), values: map[string]float64{}}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := func(suffix string) string {
				if len(labels) == 0 {
					return name + suffix
				}
				return name + suffix + "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				s.values[key("")] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.values[key("")] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.values[key("")] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				s.values[key("_count")] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return s
}

// scrapeWhenSettled scrapes once Envoy has flushed the histograms of the
// calls so far: two scrapes a flush interval apart agree on the call count
// and the latency samples.
func scrapeWhenSettled(t *testing.T, admin string) scrape {
	t.Helper()
	s := scrapeMetrics(t, admin)
	for range 20 {
		time.Sleep(1200 * time.Millisecond)
		next := scrapeMetrics(t, admin)
		if callsCounted(next) == callsCounted(s) && latencySamples(next) == latencySamples(s) && callsCounted(s) > 0 {
			return next
		}
		s = next
	}
	t.Fatal("the call counts did not settle")
	return s
}

// callsCounted is every call the edge's metrics show.
func callsCounted(s scrape) float64 { return s.sum("milvus_proxy_req_count", `status="total"`) }

// latencySamples is every successful call in the latency histogram.
func latencySamples(s scrape) float64 { return s.sum("milvus_proxy_req_latency_count") }

// promtoolCheck runs `promtool check metrics` ($PROMTOOL_BIN, else promtool
// on $PATH; missing fails the test) on an exposition. The exposition must
// parse, and the only lint problems allowed are those of the Milvus
// Proxy's own names (metrics.MilvusNamingException).
func promtoolCheck(t *testing.T, exposition []byte) {
	t.Helper()
	bin := os.Getenv("PROMTOOL_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("promtool"); err != nil {
			t.Fatalf("promtool: %v (set PROMTOOL_BIN, or run `make setup`: Debian's prometheus package)", err)
		}
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	// Exit code 3 is "lint problems found"; anything else (1: the input did
	// not parse) fails.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		metric, problem, _ := strings.Cut(line, " ")
		if !metrics.MilvusNamingException(metric, problem) {
			t.Errorf("promtool check metrics: %s", line)
		}
	}
}
