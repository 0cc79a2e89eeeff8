package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// pyScript is the pymilvus client of the real-Milvus rows.
const pyScript = "bench/pymilvus_calls.py"

// pyOps are the pymilvus rows per step: the op the script knows and the
// row's op name.
var pyOps = []struct{ arg, op string }{{"search", "Search pymilvus c1"}, {"query", "Query pymilvus c1"}}

type pyResult struct {
	Calls   int     `json:"calls"`
	Errors  int     `json:"errors"`
	Seconds float64 `json:"seconds"`
	P50us   float64 `json:"p50_us"`
	P90us   float64 `json:"p90_us"`
	P99us   float64 `json:"p99_us"`
}

// measurePymilvus runs the pymilvus script against target (one client,
// o.pyCalls sequential calls after o.pyWarmup) and makes a row of what it
// prints. CPU is sampled when the script says "start" and when it prints its
// result; the Python client's own CPU goes in the loader column.
func measurePymilvus(o options, step, arg, op, target string, edge, envoy *procs.Proc, st *backendproc.Standalone) (Row, error) {
	cmd := exec.Command(o.python, pyScript, "http://"+target, backendproc.RootUser+":"+backendproc.RootPassword,
		standaloneCollection, arg, fmt.Sprint(o.pyCalls), fmt.Sprint(o.pyWarmup))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Row{}, err
	}
	if err := cmd.Start(); err != nil {
		return Row{}, fmt.Errorf("%s %s: %w", o.python, pyScript, err)
	}
	take := func() sample {
		s := sample{edge: cpuTime(edge.Pid()), self: cpuTime(cmd.Process.Pid), lite: treeCPU(st.Pid())}
		if envoy != nil {
			s.envoy = cpuTime(envoy.Pid())
		}
		s.busy, s.total = machineCPU()
		return s
	}
	var s0, s1 sample
	var res pyResult
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "start":
			s0 = take()
		case strings.HasPrefix(line, "{"):
			s1 = take()
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return Row{}, fmt.Errorf("pymilvus result %q: %w", line, err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return Row{}, fmt.Errorf("pymilvus %s via %s: %w: %s", arg, target, err, strings.TrimSpace(stderr.String()))
	}
	r := Row{Backend: backendMilvus, Op: op, Step: step, Requests: res.Calls, Errors: res.Errors,
		P50us: res.P50us, P90us: res.P90us, P99us: res.P99us}
	if msg := strings.TrimSpace(stderr.String()); res.Errors > 0 && msg != "" {
		r.ErrorSamples = map[string]int{msg: res.Errors}
	}
	if res.Seconds > 0 {
		r.RPS = float64(res.Calls) / res.Seconds
	}
	if res.Calls > 0 {
		per := func(d time.Duration) float64 { return us(d) / float64(res.Calls) }
		r.EdgeCPUus, r.EnvoyCPUus, r.BenchCPUus, r.BackendCPUus = per(s1.edge-s0.edge), per(s1.envoy-s0.envoy), per(s1.self-s0.self), per(s1.lite-s0.lite)
	}
	if dt := s1.total - s0.total; dt > 0 {
		r.MachineBusyPct = 100 * float64(s1.busy-s0.busy) / float64(dt)
	}
	return r, nil
}

// pyReady fails early when the pymilvus client cannot run.
func pyReady(python string) error {
	if _, err := os.Stat(pyScript); err != nil {
		return fmt.Errorf("%s (run the bench from the repo root): %w", pyScript, err)
	}
	if out, err := exec.Command(python, "-c", "import pymilvus").CombinedOutput(); err != nil {
		return fmt.Errorf("%s cannot import pymilvus (make setup): %w: %s", python, err, out)
	}
	return nil
}

// pyRounds is how many alternating rounds the pymilvus rows take.
var pyRounds int

func init() {
	flag.IntVar(&pyRounds, "py-rounds", 5, "pymilvus rows: alternating rounds over the paths, -py-calls and -py-warmup split between them; a row is the median of its rounds")
}

// pyPaths are the steps the pymilvus rows go through, in this order.
var pyPaths = []string{stepDirect, stepPass, stepNoop, stepAuthz, stepFull}

// pymilvusRounds measures the pymilvus rows with every path up at once
// (direct, each step's Envoy, the no-op ext_authz server), in pyRounds
// rounds that go through the paths in turn: measured one step after
// another, minutes apart, the steps' p50s moved by ±0.5–1 ms on a shared
// machine, more than the differences they are there to show. A row's
// latencies, req/s and CPU per call are the medians of its rounds'.
func pymilvusRounds(dir string, o options, backends map[string]string, edge *procs.Proc, e edgeAddrs, st *backendproc.Standalone) ([]Row, error) {
	type path struct {
		step, target  string
		filter, envoy *procs.Proc
	}
	var paths []path
	defer func() {
		for _, p := range paths {
			stop(p.envoy)
			if p.filter != edge {
				stop(p.filter)
			}
		}
	}()
	for _, step := range pyPaths {
		if !selected(o.steps, step) {
			continue
		}
		p := path{step: step, filter: edge}
		ports := e
		if step == stepNoop {
			ports.filters = freeAddr()
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			if p.filter, err = startChild(dir, "noop-authz-pymilvus", self, "noop-authz", ports.filters); err != nil {
				return nil, err
			}
		}
		if step == stepInProcess {
			var err error
			if p.filter, ports, err = startInProcessEdge(dir, o, backends); err != nil {
				return nil, err
			}
		}
		envoyProc, targets, err := startStep(dir, o, step, backends, ports)
		if err != nil {
			if p.filter != edge {
				stop(p.filter)
			}
			return nil, fmt.Errorf("pymilvus rows, step %s: %w", step, err)
		}
		p.envoy, p.target = envoyProc, targets[backendMilvus]
		paths = append(paths, p)
	}
	rounds := max(pyRounds, 1)
	ro := o
	ro.pyCalls, ro.pyWarmup = max(o.pyCalls/rounds, 1), max(o.pyWarmup/rounds, 10)
	got := map[[2]string][]Row{}
	for r := range rounds {
		logf("pymilvus round %d of %d: %d calls after %d per path and op…", r+1, rounds, ro.pyCalls, ro.pyWarmup)
		for _, p := range paths {
			for _, py := range pyOps {
				if !selected(o.ops, py.op) {
					continue
				}
				row, err := measurePymilvus(ro, p.step, py.arg, py.op, p.target, p.filter, p.envoy, st)
				if err != nil {
					return nil, err
				}
				logf("  %-17s %-18s p50 %.2f ms, p90 %.2f ms", p.step, py.op, row.P50us/1e3, row.P90us/1e3)
				got[[2]string{p.step, py.op}] = append(got[[2]string{p.step, py.op}], row)
				if err := alive(edge, p.filter, p.envoy, procOf(st)); err != nil {
					return nil, fmt.Errorf("during %s %s: %w", p.step, py.op, err)
				}
			}
		}
	}
	var rows []Row
	for _, p := range paths {
		for _, py := range pyOps {
			if rs := got[[2]string{p.step, py.op}]; len(rs) > 0 {
				rows = append(rows, medianRow(rs))
			}
		}
	}
	return rows, nil
}

// medianRow is one row of a row's rounds: counts summed, every figure the
// median of the rounds'.
func medianRow(rs []Row) Row {
	out := rs[0]
	out.Requests, out.Errors, out.ErrorSamples = 0, 0, nil
	for _, r := range rs {
		out.Requests += r.Requests
		out.Errors += r.Errors
		for k, n := range r.ErrorSamples {
			if out.ErrorSamples == nil {
				out.ErrorSamples = map[string]int{}
			}
			out.ErrorSamples[k] += n
		}
	}
	med := func(f func(Row) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	out.RPS = med(func(r Row) float64 { return r.RPS })
	out.P50us = med(func(r Row) float64 { return r.P50us })
	out.P90us = med(func(r Row) float64 { return r.P90us })
	out.P99us = med(func(r Row) float64 { return r.P99us })
	out.EdgeCPUus = med(func(r Row) float64 { return r.EdgeCPUus })
	out.EnvoyCPUus = med(func(r Row) float64 { return r.EnvoyCPUus })
	out.BenchCPUus = med(func(r Row) float64 { return r.BenchCPUus })
	out.BackendCPUus = med(func(r Row) float64 { return r.BackendCPUus })
	out.MachineBusyPct = med(func(r Row) float64 { return r.MachineBusyPct })
	return out
}
