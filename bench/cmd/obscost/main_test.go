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
	md := e.markdown(options{rounds: 1}, time.Time{}, nil, nil, nil)
	if !strings.Contains(md, "0.80 % throughput cost") {
		t.Errorf("markdown:\n%s", md)
	}
}

// A side-by-side comparison reads as X's req/s over A's: its throughput
// cost is one minus the mean ratio, with the mean's standard error.
func TestSideBySideMarkdown(t *testing.T) {
	m, se := meanSE([]float64{0.9, 1.0, 0.95, 0.95})
	if math.Abs(m-0.95) > 1e-12 || math.Abs(se-sd([]float64{0.9, 1.0, 0.95, 0.95})/2) > 1e-12 {
		t.Errorf("meanSE = %v ± %v", m, se)
	}
	if m, _ := meanSE(nil); !math.IsNaN(m) {
		t.Error("the mean of nothing must be NaN, not 0")
	}
	if b := blocks([]float64{0.9, 1.0, 0.95, 0.97, 2}); len(b) != 2 || math.Abs(b[0]-0.95) > 1e-12 || math.Abs(b[1]-0.96) > 1e-12 {
		t.Errorf("blocks = %v, want [0.95 0.96] (the odd last pair left out)", b)
	}
	c := comparison{name: "B", what: "both", ratio: []float64{0.92, 1.0, 0.95, 0.99}, envoyDelta: []float64{10, 12, 13, 13},
		chainDelta: []float64{15, 17, 16, 18}, totalA: []float64{400, 420}}
	md := sideBySideMarkdown(options{pairs: 4, pairDuration: 20 * time.Second}, []comparison{c})
	for _, want := range []string{"0.920, 1.000, 0.950, 0.990", "0.965 ± 0.005", "**3.5 %**", "+12.0 ± 1.0", "+16.5 ± 0.5", "410 µs per call"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// At equal load a comparison reads as µs per call more, per process, and
// the gateway's CPU per call over A's, each over blocks of two pairs.
func TestEqualLoadMarkdown(t *testing.T) {
	c := comparison{name: "B", what: "both", envoyDelta: []float64{10, 14, 12, 16}, edgeDelta: []float64{1, 3, 2, 2},
		loaderDelta: []float64{-1, 1, 0, 0}, gateway: []float64{1.01, 1.03, 1.02, 1.02}}
	md := equalLoadMarkdown(options{pairs: 4, pairDuration: 20 * time.Second}, 1000, []comparison{c})
	for _, want := range []string{"paced to 1000 calls a second", "| +13.0 ± 1.0 | +2.0 ± 0.0 | +0.0 ± 0.0 | 1.020 ± 0.000 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
