package main

import (
	"fmt"
	"slices"
	"strings"
)

// Row is one measurement. CPU figures are µs of CPU (user+system from
// /proc/<pid>/stat over the measured window) per successful request.
// Ratios are to the "envoy" (passthrough) row of the same backend and op.
type Row struct {
	Backend      string         `json:"backend"`
	Op           string         `json:"op"`
	Step         string         `json:"step"`
	Requests     int            `json:"requests"`
	Errors       int            `json:"errors"`
	ErrorSamples map[string]int `json:"error_samples,omitempty"`
	RPS          float64        `json:"rps"`
	P50us        float64        `json:"p50_us"`
	P90us        float64        `json:"p90_us"`
	P99us        float64        `json:"p99_us"`
	EdgeCPUus    float64        `json:"edge_cpu_us_per_req"`
	EnvoyCPUus   float64        `json:"envoy_cpu_us_per_req"`
	BenchCPUus   float64        `json:"loader_fixture_cpu_us_per_req"`
	BackendCPUus float64        `json:"milvus_lite_cpu_us_per_req,omitempty"`
	// MachineBusyPct is the whole machine's busy share (/proc/stat) over the window.
	MachineBusyPct float64 `json:"machine_busy_pct"`
	RatioRPS       float64 `json:"rps_x_passthrough"`
	RatioP50       float64 `json:"p50_x_passthrough"`
	RatioP90       float64 `json:"p90_x_passthrough"`
	RatioP99       float64 `json:"p99_x_passthrough"`
	// BaseStep is, for a step that adds one thing to another (stepBase),
	// that step; RatioBaseRPS is req/s ÷ its req/s for the same backend and op.
	BaseStep     string  `json:"base_step,omitempty"`
	RatioBaseRPS float64 `json:"rps_x_base,omitempty"`
}

type Meta struct {
	Date             string  `json:"date"`
	Commit           string  `json:"commit"`
	CPU              string  `json:"cpu"`
	Cores            int     `json:"cores"`
	GoVersion        string  `json:"go"`
	Envoy            string  `json:"envoy"`
	EnvoyConcurrency int     `json:"envoy_concurrency"`
	Conns            int     `json:"conns"`
	Streams          int     `json:"streams"`
	WarmupS          float64 `json:"warmup_s"`
	DurationS        float64 `json:"duration_s"`
}

type Report struct {
	Meta  Meta              `json:"meta"`
	Steps map[string]string `json:"steps"`
	Rows  []Row             `json:"rows"`
	// FixtureCalls counts the calls the fake backend served over the whole
	// run (warm-ups included): DescribeCollection & co. are the edge's schema fills.
	FixtureCalls map[string]int64 `json:"fixture_calls"`
}

func ratios(rows []Row) {
	for i := range rows {
		r := &rows[i]
		for _, p := range rows {
			if p.Step == stepPass && p.Backend == r.Backend && p.Op == r.Op {
				r.RatioRPS = div(r.RPS, p.RPS)
				r.RatioP50 = div(r.P50us, p.P50us)
				r.RatioP90 = div(r.P90us, p.P90us)
				r.RatioP99 = div(r.P99us, p.P99us)
			}
			if base := stepBase[r.Step]; base != "" && p.Step == base && p.Backend == r.Backend && p.Op == r.Op {
				r.BaseStep, r.RatioBaseRPS = base, div(r.RPS, p.RPS)
			}
		}
	}
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown is the stable report: one table, rows in ladder order per
// (backend, op), then the issue-5 goals for the full chain.
func (r Report) Markdown() string {
	var b strings.Builder
	m := r.Meta
	fmt.Fprintf(&b, "## milvus-edge bench ladder\n\n")
	fmt.Fprintf(&b, "%s · %s · %d cores (%s) · Envoy %s --concurrency %d · %s · %d streams over %d connections, closed loop · %.0f s warm-up + %.0f s measured per row\n\n",
		m.Date, m.Commit, m.Cores, m.CPU, m.Envoy, m.EnvoyConcurrency, m.GoVersion, m.Streams, m.Conns, m.WarmupS, m.DurationS)
	b.WriteString("| backend | op | step | req/s | p50 ms | p90 ms | p99 ms | req/s ×pass | p50 ×pass | p90 ×pass | p99 ×pass | edge µs/req | Envoy µs/req | loader+fixture µs/req | backend µs/req | machine busy | errors |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, x := range r.Rows {
		lite := "–"
		if x.Backend != "fake" {
			lite = fmt.Sprintf("%.0f", x.BackendCPUus)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.3f | %.3f | %.3f | %s | %s | %s | %s | %.1f | %.1f | %.1f | %s | %.0f %% | %d |\n",
			x.Backend, x.Op, x.Step, x.RPS, x.P50us/1e3, x.P90us/1e3, x.P99us/1e3,
			ratio(x.RatioRPS), ratio(x.RatioP50), ratio(x.RatioP90), ratio(x.RatioP99),
			x.EdgeCPUus, x.EnvoyCPUus, x.BenchCPUus, lite, x.MachineBusyPct, x.Errors)
	}
	b.WriteString("\nSteps: ")
	for i, s := range steps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "**%s** = %s", s, r.Steps[s])
	}
	b.WriteString(".\nCPU µs/req = user+system CPU of that process over the measured window ÷ successful requests (/proc/<pid>/stat, 10 ms ticks). " +
		"edge = the `milvus-edge serve` child (ext_authz + ext_proc + xDS), and on the envoy+noop-authz rows the no-op ext_authz fixture's process; loader+fixture = the bench process (load generator and fake backend, in one process), on the pymilvus rows the Python client; backend = milvus-lite, or the Milvus standalone (its wrapper and the milvus process).\n")
	var errs []string
	for _, x := range r.Rows {
		keys := make([]string, 0, len(x.ErrorSamples))
		for k := range x.ErrorSamples {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			errs = append(errs, fmt.Sprintf("- %s %s %s: %d × `%s`", x.Backend, x.Op, x.Step, x.ErrorSamples[k], k))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors:\n" + strings.Join(errs, "\n") + "\n")
	}
	b.WriteString("\nIssue 5 goals (full chain vs passthrough, fake backend):\n")
	for _, x := range r.Rows {
		if x.Step != stepFull || x.Backend != "fake" {
			continue
		}
		line := fmt.Sprintf("- %s: p50 %s (goal ≤ 1.30×) %s; req/s %s (goal ≥ 0.70×) %s",
			x.Op, ratio(x.RatioP50), mark(x.RatioP50 <= 1.3), ratio(x.RatioRPS), mark(x.RatioRPS >= 0.7))
		if x.RatioP50 > 0 {
			line += fmt.Sprintf("; the chain adds %.0f µs to the p50", x.P50us-x.P50us/x.RatioP50)
		}
		if x.Op == "Search" {
			line += fmt.Sprintf("; edge CPU %.1f µs/req (goal ≤ 30) %s", x.EdgeCPUus, mark(x.EdgeCPUus <= 30))
		}
		b.WriteString(line + "\n")
	}
	r.limitsMarkdown(&b)
	r.milvusMarkdown(&b)
	r.modesMarkdown(&b)
	if len(r.FixtureCalls) > 0 {
		fmt.Fprintf(&b, "\nFixture calls over the run: Search %d, Insert %d, Query %d, DescribeCollection %d, ShowPartitions %d, ListAliases %d.\n",
			r.FixtureCalls["Search"], r.FixtureCalls["Insert"], r.FixtureCalls["Query"],
			r.FixtureCalls["DescribeCollection"], r.FixtureCalls["ShowPartitions"], r.FixtureCalls["ListAliases"])
	}
	return b.String()
}

func ratio(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// limitsMarkdown prints the rate limits' cost: each limits step against the
// step it adds to, with the goal for the edge's own limits (≤ 5 % of the
// full chain's req/s, fake backend).
func (r Report) limitsMarkdown(b *strings.Builder) {
	var lines []string
	for _, x := range r.Rows {
		if x.BaseStep == "" {
			continue
		}
		line := fmt.Sprintf("- %s %s: %s req/s %s of %s", x.Backend, x.Op, x.Step, ratio(x.RatioBaseRPS), x.BaseStep)
		if x.Step == stepLimits && x.Backend == "fake" {
			line += fmt.Sprintf(" (goal ≥ 0.95×) %s", mark(x.RatioBaseRPS >= 0.95))
		}
		for _, p := range r.Rows {
			if p.Step == x.BaseStep && p.Backend == x.Backend && p.Op == x.Op {
				line += fmt.Sprintf("; edge %+.1f µs/req, Envoy %+.1f µs/req", x.EdgeCPUus-p.EdgeCPUus, x.EnvoyCPUus-p.EnvoyCPUus)
			}
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		b.WriteString("\nRate limits far above the load (req/s against the step without them; CPU per call, difference):\n" + strings.Join(lines, "\n") + "\n")
	}
}

// milvusMarkdown prints, for the real-Milvus rows, what each hop adds to a
// call's p50: Envoy over direct, a no-op ext_authz callout over Envoy, the
// edge's Check over the no-op, the full chain over the static ext_authz
// step, and the whole edge over Envoy, with the issue-14 goal for pymilvus
// (the edge adds ≤ 0.2 ms over passthrough).
func (r Report) milvusMarkdown(b *strings.Builder) {
	p50 := map[[2]string]float64{}
	var ops []string
	for _, x := range r.Rows {
		if x.Backend != backendMilvus {
			continue
		}
		if x.Step == stepDirect {
			ops = append(ops, x.Op)
		}
		p50[[2]string{x.Step, x.Op}] = x.P50us
	}
	var lines []string
	for _, op := range ops {
		at := func(step string) float64 { return p50[[2]string{step, op}] }
		line := fmt.Sprintf("- %s: direct %.2f ms", op, at(stepDirect)/1e3)
		for _, h := range []struct{ what, step, base string }{
			{"Envoy", stepPass, stepDirect}, {"a no-op ext_authz", stepNoop, stepPass},
			{"the edge's Check instead", stepAuthz, stepNoop}, {"the full chain instead", stepFull, stepAuthz},
		} {
			if at(h.step) > 0 && at(h.base) > 0 {
				line += fmt.Sprintf("; %s %+.2f", h.what, (at(h.step)-at(h.base))/1e3)
			}
		}
		if pass, full := at(stepPass), at(stepFull); pass > 0 && full > 0 {
			line += fmt.Sprintf("; **the edge over Envoy %+.2f ms**", (full-pass)/1e3)
			if strings.Contains(op, "pymilvus") {
				line += fmt.Sprintf(" (goal ≤ +0.20 ms) %s", mark(full-pass <= 200))
			}
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		b.WriteString("\nReal Milvus standalone (auth on): what each step adds to a call's p50 (ms; one run, a noisy machine moves these by ±0.5 ms):\n" + strings.Join(lines, "\n") + "\n")
	}
}
