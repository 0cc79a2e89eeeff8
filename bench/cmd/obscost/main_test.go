package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedianAndSD(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing must be NaN, not 0")
	}
	if s := sd([]float64{2, 4, 4, 4, 5, 5, 7, 9}); math.Abs(s-2.138) > 0.001 {
		t.Errorf("sd = %v", s)
	}
}

// The estimate adds the per-call parts (a negative measured part counts as
// nothing) and the sampled share of a traced call, over A's CPU per call
// plus what B adds: throughput falls from 1/A to 1/(A+added).
func TestEstimate(t *testing.T) {
	e := estimate{CallsFilterUS: 1.7, LoggerUS: -0.05, TracedCallUS: 130, Sampling: 0.01, TotalAUS: 370}
	if got := e.perCallUS(); math.Abs(got-3.0) > 1e-9 {
		t.Errorf("per call %v µs, want 1.7 + 0 + 1.3", got)
	}
	if got := e.Cost(); math.Abs(got-3.0/373) > 1e-12 {
		t.Errorf("cost %v", got)
	}
	md := e.markdown(options{rounds: 1}, time.Time{}, nil, nil, nil, nil, nil, nil, nil)
	if !strings.Contains(md, "0.80 % throughput cost") {
		t.Errorf("markdown:\n%s", md)
	}
}
