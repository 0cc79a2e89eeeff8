package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

const grpcPath = "/milvus.proto.milvus.MilvusService/"

// tuple is one label tuple of the module's stats and what it counted.
type tuple struct {
	api, surface, path, db, coll, refused string
	ok                                    bool
	calls, in, out, nq, rows              float64
	durations                             []float64 // µs, one per call the histogram has seen
}

// exposition renders tuples and users as the calls module does:
// one family per stat, counters named as they are, the histogram in the
// bootstrap's buckets (Milvus's ×1000), and one stat of Envoy's own that
// the edge must skip.
func exposition(tuples []tuple, users map[string]float64) string {
	var b strings.Builder
	b.WriteString("# TYPE envoy_server_uptime gauge\nenvoy_server_uptime{} 12\n")
	labels := func(t tuple) string {
		return fmt.Sprintf(`api=%q,surface=%q,path=%q,db=%q,collection=%q,refused=%q,ok="%t"`,
			t.api, t.surface, t.path, t.db, t.coll, t.refused, t.ok)
	}
	for _, c := range []struct {
		stat string
		v    func(tuple) float64
	}{
		{statCalls, func(t tuple) float64 { return t.calls }},
		{statRequestBytes, func(t tuple) float64 { return t.in }},
		{statResponseBytes, func(t tuple) float64 { return t.out }},
		{statNQ, func(t tuple) float64 { return t.nq }},
		{statRows, func(t tuple) float64 { return t.rows }},
	} {
		fmt.Fprintf(&b, "# TYPE %s%s counter\n", EnvoyStatsPrefix, c.stat)
		for _, t := range tuples {
			fmt.Fprintf(&b, "%s%s{%s} %v\n", EnvoyStatsPrefix, c.stat, labels(t), c.v(t))
		}
	}
	fmt.Fprintf(&b, "# TYPE %s%s histogram\n", EnvoyStatsPrefix, statDuration)
	for _, t := range tuples {
		if t.durations == nil {
			continue // not flushed yet
		}
		sum := 0.0
		for _, d := range t.durations {
			sum += d
		}
		for _, ub := range milvusBuckets {
			n := 0
			for _, d := range t.durations {
				if d <= ub*1000 {
					n++
				}
			}
			fmt.Fprintf(&b, "%s%s_bucket{%s,le=\"%v\"} %d\n", EnvoyStatsPrefix, statDuration, labels(t), ub*1000, n)
		}
		fmt.Fprintf(&b, "%s%s_bucket{%s,le=\"+Inf\"} %d\n", EnvoyStatsPrefix, statDuration, labels(t), len(t.durations))
		fmt.Fprintf(&b, "%s%s_sum{%s} %v\n", EnvoyStatsPrefix, statDuration, labels(t), sum)
		fmt.Fprintf(&b, "%s%s_count{%s} %d\n", EnvoyStatsPrefix, statDuration, labels(t), len(t.durations))
	}
	fmt.Fprintf(&b, "# TYPE %s%s counter\n", EnvoyStatsPrefix, statUsers)
	for _, u := range slices.Sorted(maps.Keys(users)) {
		fmt.Fprintf(&b, "%s%s{user=%q} %v\n", EnvoyStatsPrefix, statUsers, u, users[u])
	}
	return b.String()
}

// fakeEnvoy serves body() as the calls module serves GET
// /milvus_edge/calls on Envoy's admin; reads counts the requests.
func fakeEnvoy(t *testing.T, body func() string) (es *EnvoyStats, reads *atomic.Int32) {
	t.Helper()
	reads = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		if r.URL.Path != "/milvus_edge/calls" {
			t.Errorf("Envoy asked for %s", r.URL)
		}
		_, _ = io.WriteString(w, body())
	}))
	t.Cleanup(srv.Close)
	return NewEnvoyStats(srv.Listener.Addr().String(), 2*time.Second), reads
}

// callsOf returns call metrics of node n1 reading tuples and users from a
// fake Envoy.
func callsOf(t *testing.T, maxCollections int, tuples []tuple, users map[string]float64) *Calls {
	t.Helper()
	text := exposition(tuples, users)
	es, _ := fakeEnvoy(t, func() string { return text })
	return NewCalls(slog.New(slog.DiscardHandler), "n1", maxCollections, es)
}

// sample is one gathered series: its labels and its value (a histogram's
// sample count).
type sample struct {
	labels map[string]string
	value  float64
	m      *dto.Metric
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
			s := sample{labels: map[string]string{}, m: m}
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

// one returns the series of name whose labels include kv ("name",
// "value", …); it fails unless exactly one matches, or its node_id is not
// n1.
func one(t *testing.T, c prometheus.Collector, name string, kv ...string) sample {
	t.Helper()
	var found []sample
	for _, s := range gather(t, c, name) {
		match := true
		for i := 0; match && i+1 < len(kv); i += 2 {
			match = s.labels[kv[i]] == kv[i+1]
		}
		if match {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series, want 1 (all: %v)", name, kv, len(found), gather(t, c, name))
	}
	if n, ok := found[0].labels["node_id"]; ok && n != "n1" {
		t.Errorf("%s: node_id %q", name, n)
	}
	return found[0]
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

// absent fails when name has any series.
func absent(t *testing.T, c prometheus.Collector, name string) {
	t.Helper()
	if s := gather(t, c, name); len(s) != 0 {
		t.Errorf("%s: %v, want none", name, s)
	}
}

func want(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
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
