package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMetricsReadEnvoyStats runs `serve` against a fake Envoy admin: GET
// /metrics serves the calls module's counts as milvus_proxy_*, capped by
// metrics.max_collection_labels; a reload raising the cap applies; with
// metrics.enabled false a scrape asks Envoy nothing and serves no call
// families.
func TestMetricsReadEnvoyStats(t *testing.T) {
	var reads atomic.Int32
	envoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/milvus_edge/calls" {
			http.NotFound(w, r)
			return
		}
		reads.Add(1)
		_, _ = io.WriteString(w, "# TYPE envoy_milvus_edge_calls counter\n")
		for _, coll := range []string{"a_docs", "b_docs"} {
			fmt.Fprintf(w, "envoy_milvus_edge_calls{api=\"Search\",surface=\"grpc\",path=\"/milvus.proto.milvus.MilvusService/Search\","+
				"db=\"default\",collection=%q,refused=\"\",ok=\"true\"} 3\n", coll)
		}
	}))
	defer envoy.Close()
	cfg, tokenPath, port := adminConfig(t, "127.0.0.1", "")
	cfg = strings.Replace(cfg, "envoy: {", "envoy: {admin_advertise_address: \""+envoy.Listener.Addr().String()+"\", ", 1)
	s := startServe(t, cfg+"metrics: {max_collection_labels: 1}\n", tokenPath, port)
	series := func(coll string) string {
		return fmt.Sprintf(`milvus_proxy_req_count{collection_name=%q,db_name="default",function_name="Search",node_id="milvus-edge",status="success"} 3`, coll)
	}
	scrape := func() string {
		code, _, body := s.do(t, req{path: "/metrics"})
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: HTTP %d", code)
		}
		return body
	}
	if body := scrape(); !strings.Contains(body, series("a_docs")) || !strings.Contains(body, series("__other__")) {
		t.Fatalf("GET /metrics, one collection label allowed: want a_docs and __other__:\n%s", grepLines(body, "milvus_proxy_req_count"))
	}
	reload := func(extra string) {
		t.Helper()
		if err := os.WriteFile(s.cfgPath, []byte(cfg+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reload("metrics: {max_collection_labels: 2}\n")
	s.eventually(t, "the raised cap labels b_docs", func() bool { return strings.Contains(scrape(), series("b_docs")) })
	reload("metrics: {enabled: false}\n")
	s.eventually(t, "metrics off: no call families", func() bool { return !strings.Contains(scrape(), "milvus_proxy_req_count") })
	before := reads.Load()
	if body := scrape(); strings.Contains(body, "milvus_proxy_req_") || reads.Load() != before {
		t.Errorf("metrics off: %d reads of Envoy's stats, call families:\n%s", reads.Load()-before, grepLines(body, "milvus_proxy_req_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
