package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/milvus-edge/milvus-edge/envoy"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// stepInProcess is the real chain with edge.filters: in_process: the same
// bootstrap and xDS, but ext_authz's work runs in Envoy as the edge's Go
// module (docs/in-process.md). It needs its own edge (the mode is
// restart-only): a second `milvus-edge serve` with the same config plus
// the mode, whose process (ext_proc, access-log stream) is the edge column;
// the module's CPU is in Envoy's.
const stepInProcess = "envoy+inproc+proc"

func init() {
	steps = append(steps, stepInProcess)
	stepBase[stepInProcess] = stepFull
	milvusSteps[stepInProcess] = true
	pyPaths = append(pyPaths, stepInProcess)
	stepDesc[stepInProcess] = "the real milvus-edge chain with edge.filters: in_process (a second edge, same config): authentication, policy, " +
		"validation and route key run inside Envoy as the edge's Go module (bin/libmilvus_edge.so) — no ext_authz call; ext_proc still " +
		"on the filter server for what single pass leaves. The edge column is that edge's process; the module's CPU is in Envoy's column"
}

// startInProcessEdge starts the second edge of stepInProcess, in its own
// folder under dir.
func startInProcessEdge(dir string, o options, backends map[string]string) (*procs.Proc, edgeAddrs, error) {
	sub := filepath.Join(dir, "inproc")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return nil, edgeAddrs{}, err
	}
	var err error
	if o.edgeYAML, err = withYAML(o.edgeYAML, "edge: {filters: in_process}"); err != nil {
		return nil, edgeAddrs{}, err
	}
	return startEdge(sub, o, backends)
}

// envoyEnv is the environment a step's Envoy needs: the module's (GODEBUG,
// GOMAXPROCS, envoy.ModuleEnv, as the edge sets them for its own Envoy) for stepInProcess.
func envoyEnv(step string, o options) []string {
	if step != stepInProcess {
		return nil
	}
	return envoy.ModuleEnv(o.concurrency)
}

// modesMarkdown prints the issue-14 goals for the two filter modes side by
// side: the full chain (external filters) and the in-process step, each
// against passthrough on the fake backend, and on the real Milvus with
// pymilvus what each adds over passthrough.
func (r Report) modesMarkdown(b *strings.Builder) {
	row := func(backend, op, step string) *Row {
		for i := range r.Rows {
			if x := &r.Rows[i]; x.Backend == backend && x.Op == op && x.Step == step {
				return x
			}
		}
		return nil
	}
	var lines []string
	for _, step := range []string{stepFull, stepInProcess} {
		mode := map[string]string{stepFull: "external", stepInProcess: "in_process"}[step]
		if x := row("fake", "Search", step); x != nil {
			lines = append(lines, fmt.Sprintf("- %s, fake Search: req/s %s (goal ≥ 0.80×) %s; p50 %s (goal ≤ 1.20×) %s; edge process %.1f µs/req, Envoy %.1f µs/req",
				mode, ratio(x.RatioRPS), mark(x.RatioRPS >= 0.8), ratio(x.RatioP50), mark(x.RatioP50 > 0 && x.RatioP50 <= 1.2), x.EdgeCPUus, x.EnvoyCPUus))
		}
		if x, p := row("fake", "Search c1", step), row("fake", "Search c1", stepPass); x != nil && p != nil {
			add := x.P50us - p.P50us
			lines = append(lines, fmt.Sprintf("- %s, fake Search, one stream: +%.0f µs p50 over passthrough (goal ≤ +100 µs) %s", mode, add, mark(add <= 100)))
		}
		for _, op := range []string{"pymilvus Search", "pymilvus Query"} {
			if x, p := row(backendMilvus, op, step), row(backendMilvus, op, stepPass); x != nil && p != nil {
				add := (x.P50us - p.P50us) / 1e3
				lines = append(lines, fmt.Sprintf("- %s, real Milvus %s: %+.2f ms p50 over passthrough (goal ≤ +0.20 ms) %s", mode, op, add, mark(add <= 0.2)))
			}
		}
	}
	if x, f := row("fake", "Search", stepInProcess), row("fake", "Search", stepFull); x != nil && f != nil {
		lines = append(lines, fmt.Sprintf("- in_process vs external, fake Search: req/s %.2f×; edge + Envoy CPU %.1f vs %.1f µs/req",
			x.RPS/f.RPS, x.EdgeCPUus+x.EnvoyCPUus, f.EdgeCPUus+f.EnvoyCPUus))
	}
	if len(lines) > 0 {
		b.WriteString("\nIssue 14 goals, both filter modes (edge.filters external | in_process; CPU of the in-process checks is in Envoy's column):\n" + strings.Join(lines, "\n") + "\n")
	}
}
