package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
