// Command obscost is `make bench-obs`: what the metrics (on) and tracing
// (at 1 % sampling) cost the full chain's throughput, against metrics off
// and no tracing, measured two ways by runs of bench-ladder (bench/cmd/ladder)
// on the fake backend:
//
//   - directly, side by side (sidebyside.go): B (metrics on, tracing 1 %)
//     and A (metrics off, no tracing) run at once, two whole chains on the
//     same machine, so that both see the same machine speed; B's req/s over
//     A's per pair, beside A against itself as the control. Run one after
//     the other (A-B-B-A rounds, the earlier method) one round's ratio
//     moved by ±7 % on the shared 2-core machine, the control's too.
//     With -equal-load R, B and A also run side by side paced to R calls a
//     second each, where the CPU per call compares the work itself.
//
//   - by parts, each made large enough to measure: what B adds per call is
//     (1) the calls filter in Envoy, (2) the traced-call access log's
//     filter in Envoy (evaluated on every call), and (3) 1 % of what one
//     traced call costs (its spans, its access-log entry, the export).
//     (1) and (2) are measured as N copies of each in Envoy's pass-through
//     step (ladder -amplify-*) against none, over N, in the CPU per call of
//     Envoy and of the bench process (a slower Envoy costs the load
//     generator and the fixture more per call too); (3) as the whole
//     chain's CPU per call with every call traced (sampling 1) against
//     tracing on with none sampled (sampling 0). The estimate is their sum
//     over A's CPU per call (Envoy + edge + loader and fixture): on a
//     machine the chain saturates, throughput falls by the share of CPU
//     each call adds.
//
//     Read the parts as a floor: side by side, B's Envoy costs more per
//     call than they add up to. The copies run back to back, where the
//     caches stay warm for the next copy; the one real filter in the full
//     chain shares them with everything else a call runs.
//
// The edge's own per-call work for tracing at 1 % (one random number in
// edgetrace.Decide) and its per-call filter metrics (on in both A and B)
// add nothing between A and B worth measuring here (BenchmarkDecideUnsampled,
// BenchmarkCheckTraced).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type options struct {
	ladder, edge, out      string
	rounds, copies, pairs  int
	split                  bool
	duration, pairDuration time.Duration
	equalLoad              float64 // calls a second; 0: no equal-load comparison
}

func main() {
	var o options
	flag.StringVar(&o.ladder, "ladder", "bin/bench-ladder", "bench-ladder binary")
	flag.StringVar(&o.edge, "edge", "bin/milvus-edge", "milvus-edge binary")
	flag.StringVar(&o.out, "out", "bench/results", "where obscost.md goes")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of each comparison")
	flag.IntVar(&o.copies, "copies", 20, "copies of each Envoy part in the amplified runs")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "measured window per run (by parts)")
	flag.IntVar(&o.pairs, "pairs", 8, "side-by-side pairs per comparison (blocks of two, one of each start order)")
	flag.BoolVar(&o.split, "split", false, "also compare metrics only and tracing only against A, side by side")
	flag.Float64Var(&o.equalLoad, "equal-load", 0, "also run B against A side by side with both paced to this many calls a second (the ladder's -rate): the work at equal load; 0: not")
	flag.DurationVar(&o.pairDuration, "pair-duration", 20*time.Second, "measured window per side-by-side pair")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "obscost:", err)
		os.Exit(1)
	}
}

// row is the part of a ladder row read here.
type row struct {
	Step     string  `json:"step"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	Envoy    float64 `json:"envoy_cpu_us_per_req"`
	Edge     float64 `json:"edge_cpu_us_per_req"`
	Loader   float64 `json:"loader_fixture_cpu_us_per_req"`
	Requests int     `json:"requests"`
}

// total is the chain's CPU per call, µs.
func (r row) total() float64 { return r.Envoy + r.Edge + r.Loader }

// measure runs the ladder once for one step with extra flags.
func measure(o options, step string, extra ...string) (row, error) {
	dir, err := os.MkdirTemp("", "obscost-")
	if err != nil {
		return row{}, err
	}
	defer os.RemoveAll(dir)
	args := append([]string{"-edge", o.edge, "-out", dir, "-steps", step, "-ops", "Search",
		"-lite=false", "-milvus=false", "-duration", o.duration.String()}, extra...)
	cmd := exec.Command(o.ladder, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return row{}, fmt.Errorf("%s %s: %v\n%s", o.ladder, strings.Join(args, " "), err, tail(out))
	}
	data, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		return row{}, err
	}
	var res struct{ Rows []row }
	if err := json.Unmarshal(data, &res); err != nil {
		return row{}, err
	}
	for _, r := range res.Rows {
		if r.Step == step {
			if r.Errors > 0 {
				return r, fmt.Errorf("%s %v: %d of %d calls failed", step, extra, r.Errors, r.Requests)
			}
			logf("%-16s %-40s %6.0f req/s  envoy %6.1f  edge %6.1f  loader %6.1f µs/call", step, strings.Join(extra, " "), r.RPS, r.Envoy, r.Edge, r.Loader)
			return r, nil
		}
	}
	return row{}, fmt.Errorf("no %s row in %s", step, data)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

const full = "envoy+authz+proc"

var (
	configA = []string{"-edge-yaml", "metrics: {enabled: false}"}
)

func run(o options) error {
	started := time.Now()
	// (1), (2): the Envoy parts, amplified.
	var callsDiff, loggerDiff []float64
	n := fmt.Sprint(o.copies)
	for i := 0; i < o.rounds; i++ {
		base, err := measure(o, "envoy")
		if err != nil {
			return err
		}
		calls, err := measure(o, "envoy", "-amplify-calls-filters", n)
		if err != nil {
			return err
		}
		loggers, err := measure(o, "envoy", "-amplify-traced-loggers", n)
		if err != nil {
			return err
		}
		callsDiff = append(callsDiff, (calls.total()-base.total())/float64(o.copies))
		loggerDiff = append(loggerDiff, (loggers.total()-base.total())/float64(o.copies))
	}
	// (3): one traced call, every call traced.
	var tracedDiff, tracedRatio []float64
	for i := 0; i < o.rounds; i++ {
		none, err := measure(o, full, "-trace-sampling", "0")
		if err != nil {
			return err
		}
		all, err := measure(o, full, "-trace-sampling", "1")
		if err != nil {
			return err
		}
		tracedDiff = append(tracedDiff, all.total()-none.total())
		tracedRatio = append(tracedRatio, all.RPS/none.RPS)
	}
	// Directly, side by side: each configuration and A run at once.
	var compared []comparison
	for _, c := range comparisons(o.split) {
		r, err := sideBySide(o, c, 0)
		if err != nil {
			return err
		}
		compared = append(compared, r)
	}
	var equal []comparison
	if o.equalLoad > 0 {
		r, err := sideBySide(o, compareB, o.equalLoad)
		if err != nil {
			return err
		}
		equal = append(equal, r)
	}
	e := estimate{
		CallsFilterUS: median(callsDiff), LoggerUS: median(loggerDiff),
		TracedCallUS: median(tracedDiff), TracedRatio: median(tracedRatio),
		TotalAUS: median(allTotalA(compared)), Sampling: 0.01,
		Rounds: o.rounds, Copies: o.copies,
	}
	md := e.markdown(o, started, callsDiff, loggerDiff, tracedDiff) + sideBySideMarkdown(o, compared)
	if len(equal) > 0 {
		md += equalLoadMarkdown(o, o.equalLoad, equal)
	}
	fmt.Print(md)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "obscost.md"), []byte(md), 0o644)
}

// estimate is the cost by parts and the direct figure.
type estimate struct {
	CallsFilterUS, LoggerUS float64 // chain µs per call, per copy
	TracedCallUS            float64 // chain µs a traced call adds
	TracedRatio             float64 // req/s with every call traced over none
	TotalAUS                float64 // A's chain µs per call
	Sampling                float64
	Rounds, Copies          int
}

// perCallUS is what B adds to a call, µs: the Envoy parts (a negative
// measured share counts as nothing) and the traced share.
func (e estimate) perCallUS() float64 {
	return math.Max(e.CallsFilterUS, 0) + math.Max(e.LoggerUS, 0) + e.Sampling*math.Max(e.TracedCallUS, 0)
}

// Cost is the estimated throughput cost, a fraction.
func (e estimate) Cost() float64 { return e.perCallUS() / (e.TotalAUS + e.perCallUS()) }

func (e estimate) markdown(o options, started time.Time, calls, logger, traced []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Metrics on + tracing at 1 %%: throughput cost (`make bench-obs`)\n\n")
	fmt.Fprintf(&b, "%s · %d rounds · %s measured per run · fake backend, full chain `%s`, 16 streams\n\n",
		started.UTC().Format(time.RFC3339), o.rounds, o.duration, full)
	fmt.Fprintf(&b, "| part | measured as | per round | median |\n|---|---|---|--:|\n")
	fmt.Fprintf(&b, "| calls filter (metrics on), µs/call (Envoy + bench process) | %d copies in the envoy step − none, ÷ %d | %s | %.2f |\n", e.Copies, e.Copies, list(calls, "%.2f"), e.CallsFilterUS)
	fmt.Fprintf(&b, "| traced-call access log's filter, µs/call (Envoy + bench process) | %d copies − none, ÷ %d | %s | %.2f |\n", e.Copies, e.Copies, list(logger, "%.2f"), e.LoggerUS)
	fmt.Fprintf(&b, "| one traced call, chain µs (Envoy + edge + loader/OTLP sink) | sampling 1 − sampling 0 | %s | %.0f |\n", list(traced, "%.0f"), e.TracedCallUS)
	fmt.Fprintf(&b, "| A's chain CPU per call, µs | metrics off, no tracing | | %.0f |\n\n", e.TotalAUS)
	fmt.Fprintf(&b, "**By parts (a floor):** %.2f + %.2f + %.2f × %.0f = %.2f µs per call over %.0f µs: %.2f %% throughput cost.\n\n",
		math.Max(e.CallsFilterUS, 0), math.Max(e.LoggerUS, 0), e.Sampling, math.Max(e.TracedCallUS, 0), e.perCallUS(), e.TotalAUS, 100*e.Cost())
	fmt.Fprintf(&b, "Every call traced runs at %.2f× the req/s of none traced (median). The copies run back to back, where caches stay warm: read the parts as a floor, and the side-by-side figures below as the cost.\n\n", e.TracedRatio)
	return b.String()
}

func list(v []float64, f string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(f, x)
	}
	return strings.Join(s, ", ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// mean is the mean of v (NaN for none).
func mean(v []float64) float64 {
	var m float64
	for _, x := range v {
		m += x
	}
	return m / float64(len(v))
}

func sd(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := mean(v)
	var q float64
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	return math.Sqrt(q / float64(len(v)-1))
}
