package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sample is one gathered series: its labels and its value (a histogram's
// sample count).
type sample struct {
	labels map[string]string
	value  float64
}

// gather collects c into a registry of its own and returns the series of
// the metric name.
func gather(t *testing.T, c prometheus.Collector, name string) []sample {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []sample
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out = append(out, s)
		}
	}
	return out
}

// histCount is the total sample count of a histogram metric.
func histCount(t *testing.T, c prometheus.Collector, name string) uint64 {
	t.Helper()
	var n uint64
	for _, s := range gather(t, c, name) {
		n += uint64(s.value)
	}
	return n
}

func registryOf(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return reg
}

// lint fails on every problem Prometheus's linter finds in c's metrics,
// except MilvusNamingExceptions.
func lint(t *testing.T, c prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if !MilvusNamingException(p.Metric, p.Text) {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}
