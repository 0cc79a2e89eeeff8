package app

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gathered is what a registry with a counter (by decision), a histogram and
// a gauge gathers after the given observations.
func gathered(t *testing.T, allow float64, obs []float64, gauge float64, extra ...prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "milvus_edge_authz_decisions_total", Help: "h"}, []string{"decision"})
	c.WithLabelValues("allow").Add(allow)
	c.WithLabelValues("deny_auth")
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "milvus_edge_authz_check_duration_seconds", Help: "h", Buckets: []float64{0.001, 0.01}})
	for _, o := range obs {
		h.Observe(o)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "milvus_edge_policy_last_load_failed", Help: "h"})
	g.Set(gauge)
	reg.MustRegister(c, h, g)
	reg.MustRegister(extra...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// The module's counters and histograms add into the edge's series, its
// gauges do not, its runtime series stay apart, and a family only it has is
// served.
func TestMergeFamilies(t *testing.T) {
	modOnly := prometheus.NewCounter(prometheus.CounterOpts{Name: "milvus_edge_rate_limit_checks_total", Help: "h"})
	modOnly.Add(3)
	goMod := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "h", ConstLabels: moduleLabel})
	goMod.Set(40)
	goOwn := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_goroutines", Help: "h"})
	goOwn.Set(7)
	own := gathered(t, 0, []float64{0.0005}, 0, goOwn)
	mod := gathered(t, 11, []float64{0.0005, 0.005, 0.5}, 1, modOnly, goMod)
	got := map[string]*dto.MetricFamily{}
	for _, f := range mergeFamilies(own, mod) {
		got[f.GetName()] = f
	}
	for _, m := range got["milvus_edge_authz_decisions_total"].Metric {
		if m.Label[0].GetValue() == "allow" && m.GetCounter().GetValue() != 11 {
			t.Errorf("allow = %v, want 11", m.GetCounter().GetValue())
		}
	}
	if n := len(got["milvus_edge_authz_decisions_total"].Metric); n != 2 {
		t.Errorf("%d decision series, want 2 (summed, not side by side)", n)
	}
	h := got["milvus_edge_authz_check_duration_seconds"].Metric[0].GetHistogram()
	if h.GetSampleCount() != 4 || h.Bucket[0].GetCumulativeCount() != 2 || h.Bucket[1].GetCumulativeCount() != 3 {
		t.Errorf("histogram count %d buckets %v", h.GetSampleCount(), h.Bucket)
	}
	if v := got["milvus_edge_policy_last_load_failed"].Metric[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("gauge %v, want the edge's 0", v)
	}
	if v := got["milvus_edge_rate_limit_checks_total"].GetMetric()[0].GetCounter().GetValue(); v != 3 {
		t.Errorf("the module's own family: %v", v)
	}
	if n := len(got["go_goroutines"].Metric); n != 2 {
		t.Errorf("go_goroutines: %d series, want the edge's and process=envoy's", n)
	}
}
