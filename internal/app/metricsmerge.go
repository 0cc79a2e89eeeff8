package app

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// mergedGatherer serves the edge's own metrics with the in-process
// module's added in: a counter or histogram series the edge also has (same
// name and labels) is summed into it — the edge's authz counters are zero
// in that mode, its schema cache counts the fills ext_proc made, the
// module's those of single pass — and a series the edge lacks is added.
// A gauge is the edge's (both watch the same policy folder). The module's
// Go runtime series keep their process="envoy" label: a process's runtime
// figures cannot be added.
type mergedGatherer struct {
	own    prometheus.Gatherer
	module prometheus.Gatherer
}

func (g mergedGatherer) Gather() ([]*dto.MetricFamily, error) {
	own, err := g.own.Gather()
	mod, merr := g.module.Gather()
	if merr != nil {
		return own, merr
	}
	return mergeFamilies(own, mod), err
}

// mergeFamilies adds mod into own (both as Gather returns them) and keeps
// the result sorted by name.
func mergeFamilies(own, mod []*dto.MetricFamily) []*dto.MetricFamily {
	byName := make(map[string]*dto.MetricFamily, len(own))
	for _, f := range own {
		byName[f.GetName()] = f
	}
	for _, mf := range mod {
		f, ok := byName[mf.GetName()]
		if !ok || strings.HasPrefix(mf.GetName(), "go_") || strings.HasPrefix(mf.GetName(), "process_") {
			if ok {
				f.Metric = append(f.Metric, mf.Metric...) // labelled process="envoy"
				continue
			}
			own = append(own, mf)
			byName[mf.GetName()] = mf
			continue
		}
		if f.GetType() != mf.GetType() {
			continue // not the same metric; the edge's wins
		}
		for _, m := range mf.Metric {
			if i := slices.IndexFunc(f.Metric, func(x *dto.Metric) bool { return sameLabels(x, m) }); i >= 0 {
				addInto(f.GetType(), f.Metric[i], m)
			} else {
				f.Metric = append(f.Metric, m)
			}
		}
	}
	slices.SortFunc(own, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return own
}

func sameLabels(a, b *dto.Metric) bool {
	return slices.EqualFunc(a.Label, b.Label, func(x, y *dto.LabelPair) bool {
		return x.GetName() == y.GetName() && x.GetValue() == y.GetValue()
	})
}

// addInto adds m into dst for counters and histograms (same buckets, as the
// module runs the edge's own code); other types keep dst.
func addInto(t dto.MetricType, dst, m *dto.Metric) {
	switch t {
	case dto.MetricType_COUNTER:
		v := dst.GetCounter().GetValue() + m.GetCounter().GetValue()
		dst.Counter.Value = &v
	case dto.MetricType_HISTOGRAM:
		h, mh := dst.GetHistogram(), m.GetHistogram()
		count, sum := h.GetSampleCount()+mh.GetSampleCount(), h.GetSampleSum()+mh.GetSampleSum()
		h.SampleCount, h.SampleSum = &count, &sum
		for i, b := range h.Bucket {
			if i < len(mh.Bucket) && mh.Bucket[i].GetUpperBound() == b.GetUpperBound() {
				c := b.GetCumulativeCount() + mh.Bucket[i].GetCumulativeCount()
				b.CumulativeCount = &c
			}
		}
	}
}
