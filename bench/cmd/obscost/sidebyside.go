package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The direct measurement runs a configuration and A side by side: two whole
// chains (each its own ladder, Envoy, edge, loader and fixture) at once on
// the same machine, so both see the same machine speed, which on this
// shared 2-core machine moves by ±7 % from one run to the next, more than
// the cost sought. Each chain gets about half the machine, and the one
// whose calls cost more makes fewer of them. The chain started second ran
// 4-7 % faster in some trials (cause not found), so the two take turns to
// start first. A against itself is the control: read the same way, its
// ratios show the noise left.

// comparison is one configuration against A, pair by pair; pairs 2k and
// 2k+1 are a block, one of each order.
type comparison struct {
	name, what string
	cfg        []string
	ratio      []float64 // X's req/s ÷ A's
	envoyDelta []float64 // X's Envoy µs per call − A's
	chainDelta []float64 // X's chain (Envoy + edge + bench process) µs per call − A's
	totalA     []float64 // A's chain µs per call
	// At equal load (-equal-load) the ratios say nothing; the work does.
	edgeDelta, loaderDelta []float64 // X's edge, bench process µs per call − A's
	gateway                []float64 // X's Envoy + edge µs per call ÷ A's
}

var (
	compareB       = comparison{name: "B", what: "metrics on + tracing 1 % (the goal's configuration)", cfg: []string{"-trace-sampling", "0.01"}}
	compareControl = comparison{name: "control", what: "A against A: no difference to find", cfg: configA}
	// -split adds these: B's two halves.
	compareMetrics = comparison{name: "metrics", what: "metrics on, no tracing", cfg: nil}
	compareTracing = comparison{name: "tracing", what: "metrics off, tracing 1 %", cfg: []string{"-edge-yaml", "metrics: {enabled: false}", "-trace-sampling", "0.01"}}
)

func comparisons(split bool) []comparison {
	if split {
		return []comparison{compareB, compareMetrics, compareTracing, compareControl}
	}
	return []comparison{compareB, compareControl}
}

// startGap is how long after the first chain the second starts.
const startGap = 300 * time.Millisecond

// sideBySide runs c's pairs; with rate > 0 both chains are paced to rate
// calls a second (the ladder's -rate), and a chain that cannot keep up
// fails the run.
func sideBySide(o options, c comparison, rate float64) (comparison, error) {
	p := o
	p.duration = o.pairDuration
	var paced []string
	if rate > 0 {
		paced = []string{"-rate", fmt.Sprint(rate)}
	}
	for i := 0; i < o.pairs; i++ {
		cfgs := [2][]string{slices.Concat(c.cfg, paced), slices.Concat(configA, paced)} // X first on even pairs, A first on odd
		if i%2 == 1 {
			cfgs[0], cfgs[1] = cfgs[1], cfgs[0]
		}
		var rows [2]row
		var errs [2]error
		done := make(chan int, 2)
		for k := range cfgs {
			go func() {
				rows[k], errs[k] = measure(p, full, cfgs[k]...)
				done <- k
			}()
			if k == 0 {
				time.Sleep(startGap)
			}
		}
		<-done
		<-done
		for _, err := range errs {
			if err != nil {
				return c, err
			}
		}
		x, a := rows[0], rows[1]
		if i%2 == 1 {
			x, a = a, x
		}
		if rate > 0 && min(x.RPS, a.RPS) < 0.98*rate {
			return c, fmt.Errorf("equal load: %.0f and %.0f req/s, short of %.0f: the machine cannot carry both; lower -equal-load", x.RPS, a.RPS, rate)
		}
		c.edgeDelta = append(c.edgeDelta, x.Edge-a.Edge)
		c.loaderDelta = append(c.loaderDelta, x.Loader-a.Loader)
		c.gateway = append(c.gateway, (x.Envoy+x.Edge)/(a.Envoy+a.Edge))
		c.ratio = append(c.ratio, x.RPS/a.RPS)
		c.envoyDelta = append(c.envoyDelta, x.Envoy-a.Envoy)
		c.chainDelta = append(c.chainDelta, x.total()-a.total())
		c.totalA = append(c.totalA, a.total())
		logf("side by side %-8s pair %d: %s ÷ A req/s %.3f, Envoy %+.1f µs/call", c.name, i+1, c.name, x.RPS/a.RPS, x.Envoy-a.Envoy)
	}
	return c, nil
}

// blocks averages v's consecutive pairs (2k, 2k+1): one of each start
// order, so the second start's edge cancels within a block and the spread
// of blocks is the noise left. An odd last pair is left out.
func blocks(v []float64) []float64 {
	var b []float64
	for i := 0; i+1 < len(v); i += 2 {
		b = append(b, (v[i]+v[i+1])/2)
	}
	return b
}

// meanSE is the mean of v and its standard error.
func meanSE(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	return mean(v), sd(v) / math.Sqrt(float64(len(v)))
}

func sideBySideMarkdown(o options, cs []comparison) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Directly, side by side\n\n")
	fmt.Fprintf(&b, "Each configuration and A (metrics off, no tracing) run at once, two whole chains on the same machine, %d pairs of %s, taking turns to start first. Per pair: the configuration's req/s ÷ A's, and what its calls cost more than A's in CPU per call. Means and standard errors are over blocks of two pairs, one of each start order.\n\n", o.pairs, o.pairDuration)
	fmt.Fprintf(&b, "| against A | req/s ÷ A per pair | mean ± se | throughput cost | Envoy µs/call more, mean ± se | chain µs/call more, mean ± se |\n|---|---|--:|--:|--:|--:|\n")
	for _, c := range cs {
		r, rse := meanSE(blocks(c.ratio))
		e, ese := meanSE(blocks(c.envoyDelta))
		t, tse := meanSE(blocks(c.chainDelta))
		fmt.Fprintf(&b, "| %s: %s | %s | %.3f ± %.3f | **%.1f %%** | %+.1f ± %.1f | %+.1f ± %.1f |\n",
			c.name, c.what, list(c.ratio, "%.3f"), r, rse, 100*(1-r), e, ese, t, tse)
	}
	fmt.Fprintf(&b, "\nA's chain costs %.0f µs per call here (median, side by side); the goal is a throughput cost ≤ 3 %% for B.\n", median(allTotalA(cs)))
	return b.String()
}

// equalLoadMarkdown reads pairs paced to the same load: what X's calls cost
// more than A's, per process, and the gateway's (Envoy + edge) CPU per call
// over A's. The loader does the same work in both chains: its difference
// is the check that the comparison holds.
func equalLoadMarkdown(o options, rate float64, cs []comparison) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## At equal load\n\n")
	fmt.Fprintf(&b, "The same side by side, both chains paced to %.0f calls a second (`-rate`), %d pairs of %s: each does as many calls, so the CPU per call compares the work itself. The loader's work is the same in both chains: its difference should be ~0.\n\n", rate, o.pairs, o.pairDuration)
	fmt.Fprintf(&b, "| against A | Envoy µs/call more | edge µs/call more | loader µs/call more | Envoy + edge ÷ A |\n|---|--:|--:|--:|--:|\n")
	for _, c := range cs {
		e, ese := meanSE(blocks(c.envoyDelta))
		d, dse := meanSE(blocks(c.edgeDelta))
		l, lse := meanSE(blocks(c.loaderDelta))
		g, gse := meanSE(blocks(c.gateway))
		fmt.Fprintf(&b, "| %s: %s | %+.1f ± %.1f | %+.1f ± %.1f | %+.1f ± %.1f | %.3f ± %.3f |\n", c.name, c.what, e, ese, d, dse, l, lse, g, gse)
	}
	fmt.Fprintf(&b, "\nA call costs more at a paced load than at saturation (fewer calls share each wake-up), so the ratio is diluted: read the µs against the saturated chain's.\n")
	return b.String()
}

func allTotalA(cs []comparison) []float64 {
	var v []float64
	for _, c := range cs {
		v = append(v, c.totalA...)
	}
	return v
}
