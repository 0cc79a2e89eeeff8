package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/otlpreceiver"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestMetricsOffTracesStillMade: with metrics.enabled false and tracing on,
// Envoy streams only the traced calls (a metadata filter on the trace id)
// and the calls filter counts nothing: a traced search still gets Envoy's
// server and upstream spans, made from its entry, while GET /metrics counts
// no call; a reload that turns the metrics on counts the calls made once
// Envoy took the new listener (the count is the listener's setting, so a call
// still on a draining connection is not); with the metrics off again and
// sampling 0, Envoy streams no entry at all (its filter builds none for
// untraced calls). The config without metrics and tracing, which has no
// logger and no calls filter at all, is a golden case
// (xds/testdata/in/metrics_off.yaml).
func TestMetricsOffTracesStillMade(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	otlp := testenv.OTLPReceiver(t)
	p := testenv.NewPorts(t)
	config := func(metrics, tracing string) string {
		return p.ConfigHead() + fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
metrics: {enabled: %s}
%s`, backend, metrics, tracing)
	}
	traced := fmt.Sprintf("tracing: {otlp_endpoint: %s, sampling: 1.0}\n", otlp.Addr)
	e := testenv.Run(t, config("false", traced), p)
	c := testenv.Client(t, p.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 60*time.Second)
	defer cancel()
	createVectorCollection(ctx, t, c, "quiet", 8)

	searches := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if r, err := c.Search(ctx, searchRequest("quiet", 8)); err != nil || r.GetStatus().GetCode() != 0 {
				t.Fatalf("search: %v %v", r.GetStatus(), err)
			}
		}
	}
	searches(3)
	// Every search was traced (sampling 1): each trace has Envoy's spans.
	var withRouter int
	testenv.Eventually(t, 20*time.Second, "three traces with Envoy's server and upstream spans", func() bool {
		withRouter = 0
		for _, tr := range byTrace(otlp.Spans()) {
			if count(tr, envoyRouterSpan) == 1 && count(tr, searchPath) == 1 {
				withRouter++
			}
		}
		return withRouter >= 3
	})
	off := scrapeMetrics(t, p.Admin)
	if n := off.sum("milvus_proxy_req_count"); n != 0 {
		t.Fatalf("metrics off: milvus_proxy_req_count counted %v calls", n)
	}

	// Metrics on: the next calls are counted (every call streamed again).
	e.WriteConfig(t, config("true", traced))
	testenv.Eventually(t, 10*time.Second, "the reload", func() bool {
		return strings.Contains(testenv.AdminGet(t, p.Admin, "/v1/status"), `"last_error":""`)
	})
	counted := func() float64 {
		return scrapeMetrics(t, p.Admin).sum("milvus_proxy_req_count", `function_name="Search"`, `status="total"`)
	}
	testenv.Eventually(t, 15*time.Second, "searches counted once Envoy took the new listener", func() bool {
		before := counted()
		searches(4)
		return counted()-before == 4
	})
	time.Sleep(2 * time.Second) // those searches were traced too: their spans go out within 1 s

	// Metrics off and no call traced (sampling 0; the collector address
	// needs a restart to change): Envoy's filter keeps every entry back.
	e.WriteConfig(t, config("false", fmt.Sprintf("tracing: {otlp_endpoint: %s, sampling: 0}\n", otlp.Addr)))
	// Envoy swaps the listener when it takes the config; the client's
	// connection moves to the new one (immediate drain).
	before := len(byTrace(otlp.Spans()))
	testenv.Eventually(t, 15*time.Second, "searches that Envoy streams no entry for", func() bool {
		entries := testenv.Counter(t, p.EnvoyAdmin, "access_logs.grpc_access_log.logs_written")
		searches(3)
		time.Sleep(1500 * time.Millisecond) // Envoy's stream flushes every second
		return testenv.Counter(t, p.EnvoyAdmin, "access_logs.grpc_access_log.logs_written") == entries
	})
	time.Sleep(2 * time.Second) // the edge's span batches go out within 1 s
	if n := len(byTrace(otlp.Spans())) - before; n > 3 {
		t.Fatalf("sampling 0: %d new traces (at most the 3 searches before the swap)", n)
	}
	t.Logf("metrics off + tracing: %d traced searches with Envoy's spans, 0 counted; on: counted; off with sampling 0: 0 entries, 0 traces", withRouter)
}

// byTrace groups spans by their trace id.
func byTrace(spans []otlpreceiver.Span) map[string][]otlpreceiver.Span {
	out := map[string][]otlpreceiver.Span{}
	for _, s := range spans {
		out[s.TraceID] = append(out[s.TraceID], s)
	}
	return out
}
