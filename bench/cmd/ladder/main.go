// Command ladder is `make bench`: it measures the cost of the milvus-edge
// gateway step by step — direct → Envoy passthrough → + ext_authz →
// + ext_authz + ext_proc (the full milvus-edge chain) — for Search, Insert and
// Query against a fake Milvus benchmark fixture, for Search against a real
// milvus-lite, and for Search and Query against a real Milvus standalone
// with authentication on (the Go loader and a pymilvus client), and prints
// one markdown table with ratios to the passthrough step. Two more steps price rate limiting far above the load, each against
// the step it adds to: Envoy's local_ratelimit after ext_authz, and the
// edge's own limits in the full chain. See bench/README.md for what each
// step contains.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

type options struct {
	warmup, duration                time.Duration
	rate                            float64
	conns, streams, concurrency     int
	lite                            bool
	out, edgeBin, envoyBin, liteBin string
	keep                            bool
	steps, ops                      string
	edgeYAML                        string
	filtersUnix                     bool
	profileDir                      string
	edgeEnv                         string
	traceSampling                   float64
	amplify                         amplify
	// The real-Milvus rows (-milvus): the standalone and the pymilvus client.
	milvus            bool
	milvusBin, python string
	pyCalls, pyWarmup int
}

func main() {
	var o options
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up per measurement (not counted)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured window per measurement")
	flag.Float64Var(&o.rate, "rate", 0, "pace the fake-backend rows' calls to this many per second in all (0: closed loop): CPU per call at a load both configurations carry")
	flag.IntVar(&o.conns, "conns", 4, "client HTTP/2 connections")
	flag.IntVar(&o.streams, "streams", 16, "concurrent streams (spread over the connections): closed-loop, or paced by -rate")
	flag.IntVar(&o.concurrency, "envoy-concurrency", 2, "Envoy worker threads (every Envoy of the ladder)")
	flag.BoolVar(&o.lite, "lite", true, "add the milvus-lite Search row set")
	flag.BoolVar(&o.milvus, "milvus", true, "add the real-Milvus row set: a Milvus 2.3.5 standalone with authentication on, Search and Query from the Go loader (loaded and one stream) and from one pymilvus client, in steps direct, envoy, envoy+noop-authz, envoy+authz, envoy+authz+proc")
	flag.StringVar(&o.milvusBin, "milvus-server", envOr("MILVUS_SERVER_BIN", ".venv-milvus/bin/milvus-server"), "milvus-server binary (PyPI milvus 2.3.5) for -milvus")
	flag.StringVar(&o.python, "python", ".venv/bin/python", "Python with pymilvus, for -milvus's pymilvus rows")
	flag.IntVar(&o.pyCalls, "py-calls", 1500, "pymilvus rows: sequential calls measured")
	flag.IntVar(&o.pyWarmup, "py-warmup", 100, "pymilvus rows: calls before the measured ones")
	flag.BoolVar(&o.filtersUnix, "filters-unix", false, "serve the edge's filters on a Unix socket (lever)")
	flag.StringVar(&o.edgeYAML, "edge-yaml", "", `extra top-level config for the full-chain edge, e.g. "auth: {decision_cache_ttl: 10s}" (levers)`)
	flag.StringVar(&o.edgeEnv, "edge-env", "", `extra environment for the edge, comma-separated KEY=VALUE (levers), e.g. "GOGC=400"`)
	flag.Float64Var(&o.traceSampling, "trace-sampling", -1, "turn tracing on in the full chain at this sampling (0..1), exporting to a span-counting OTLP sink in the bench process; <0: off")
	flag.IntVar(&o.amplify.callsFilters, "amplify-calls-filters", 0, "envoy step: add N copies of the calls filter (metrics on), to measure its per-call cost (envoy.go)")
	flag.IntVar(&o.amplify.tracedLoggers, "amplify-traced-loggers", 0, "envoy step: add N copies of the traced-call access log (tracing on), to measure its per-call cost (envoy.go)")
	flag.StringVar(&o.amplify.callsModule, "calls-module", envOr("MILVUS_EDGE_CALLS_MODULE", "bin/libmilvus_edge_calls.so"), "the calls module, for -amplify-calls-filters")
	flag.StringVar(&o.profileDir, "edge-profile", "", "write a CPU profile of the edge over each measured window into this folder (<step>_<backend>_<op>.pprof)")
	flag.StringVar(&o.out, "out", "bench/results", "where latest.json and latest.md go")
	flag.StringVar(&o.edgeBin, "edge", envOr("MILVUS_EDGE_BIN", "bin/milvus-edge"), "milvus-edge binary")
	flag.StringVar(&o.envoyBin, "envoy", os.Getenv("ENVOY_BIN"), "envoy binary")
	flag.StringVar(&o.liteBin, "milvus-lite", envOr("MILVUS_LITE_BIN", ".venv/bin/milvus-lite"), "milvus-lite binary")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder (configs, child logs)")
	flag.StringVar(&o.steps, "steps", "", "comma-separated subset of steps (default all): "+strings.Join(steps, ","))
	flag.StringVar(&o.ops, "ops", "", "comma-separated subset of ops (default all): Search,Insert,Query")
	flag.Parse()
	if flag.Arg(0) == "noop-authz" {
		if err := serveNoopAuthz(flag.Arg(1)); err != nil {
			fmt.Fprintln(os.Stderr, "noop-authz:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func selected(list, name string) bool {
	if list == "" {
		return true
	}
	for _, s := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return true
		}
	}
	return false
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Step names, in ladder order.
const (
	stepDirect  = "direct"
	stepPass    = "envoy"
	stepNoop    = "envoy+noop-authz"
	stepAuthz   = "envoy+authz"
	stepLocalRL = "envoy+authz+localrl"
	stepFull    = "envoy+authz+proc"
	stepLimits  = "envoy+authz+proc+limits"
)

// steps is the ladder, in order.
var steps = []string{stepDirect, stepPass, stepNoop, stepAuthz, stepLocalRL, stepFull, stepLimits}

// stepBase is, for a step that adds one thing to another step, that step:
// the report prints its req/s ratio to it (the rate limits' cost).
var stepBase = map[string]string{stepLocalRL: stepAuthz, stepLimits: stepFull}

var stepDesc = map[string]string{
	stepDirect:  "loader → backend",
	stepPass:    "loader → Envoy (static: HCM + router) → backend",
	stepNoop:    "loader → Envoy (static: HCM + ext_authz + router) → backend; a no-op ext_authz fixture (its own process, shown in the edge column) allows every call unread: the floor of one ext_authz call",
	stepAuthz:   "loader → Envoy (static: HCM + edge ext_authz + router) → backend; the edge's filter server answers ext_authz",
	stepLocalRL: "envoy+authz plus, after ext_authz, Envoy's local_ratelimit: three descriptors per call (edge, collection, user from ext_authz's header), hits_addend from dynamic metadata set to a constant 1 by a set_metadata filter (the edge's ext_authz sets no cost today), buckets far above the load",
	stepFull:    "loader → Envoy driven by the edge's xDS (ext_authz + ext_proc + route table) → backend: the real milvus-edge chain",
	stepLimits:  "the real milvus-edge chain with rate_limit enabled (hot-reloaded into the same edge): edge, collection and per-user limits on every call, far above the load",
}

func run(o options) (err error) {
	for _, b := range []struct{ what, path string }{{"milvus-edge (make build)", o.edgeBin}, {"envoy ($ENVOY_BIN, make setup)", o.envoyBin}} {
		if _, err := os.Stat(b.path); b.path == "" || err != nil {
			return fmt.Errorf("%s not found at %q", b.what, b.path)
		}
	}
	dir, err := os.MkdirTemp("", "milvus-edge-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || o.keep {
			logf("work folder kept: %s", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	started := time.Now()

	fx, err := StartFixture()
	if err != nil {
		return err
	}
	defer fx.Stop()
	logf("bench fixture (fake Milvus) on %s", fx.Addr)

	var lite *procs.Proc
	var liteAddr string
	if o.lite {
		logf("starting milvus-lite and loading %d rows…", liteRows)
		if lite, liteAddr, err = startLite(dir, o.liteBin); err != nil {
			return err
		}
		defer stop(lite)
		logf("milvus-lite on %s with %s loaded", liteAddr, liteCollection)
	}

	if o.traceSampling >= 0 {
		sink, extra, stopSink, err := startTraceSink(o.traceSampling)
		if err != nil {
			return err
		}
		defer func() { logf("trace sink: %d spans received", sink.Total()); stopSink() }()
		if o.edgeYAML, err = withYAML(o.edgeYAML, extra); err != nil {
			return err
		}
	}
	var st *backendproc.Standalone
	var milvusAddr string
	if o.milvus {
		if err := pyReady(o.python); err != nil {
			return err
		}
		logf("starting the Milvus standalone (auth on) and loading %d rows…", standaloneRows)
		if st, err = startStandalone(dir, o.milvusBin, []string{fx.Addr, liteAddr}); err != nil {
			return err
		}
		defer stop(st.Proc)
		milvusAddr = st.Addr
		logf("milvus standalone on %s with %s loaded", milvusAddr, standaloneCollection)
	}
	backends := map[string]string{"fake": fx.Addr, "milvus-lite": liteAddr, backendMilvus: milvusAddr}
	edge, edgePorts, err := startEdge(dir, o, backends)
	if err != nil {
		return err
	}
	defer stop(edge)
	logf("milvus-edge serve (pid %d): filters on %s", edge.Pid(), edgePorts.filters)

	wls := workloads(o.lite, o.milvus)
	var rows []Row
	for _, step := range steps {
		if !selected(o.steps, step) {
			continue
		}
		filterProc, ports := edge, edgePorts
		if step == stepInProcess {
			if filterProc, ports, err = startInProcessEdge(dir, o, backends); err != nil {
				return fmt.Errorf("step %s: %w", step, err)
			}
		}
		if step == stepLimits {
			if err := reloadEdge(edgePorts, limitsYAML); err != nil {
				return fmt.Errorf("step %s: %w", step, err)
			}
		}
		if step == stepNoop {
			ports.filters = freeAddr()
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if filterProc, err = startChild(dir, "noop-authz", self, "noop-authz", ports.filters); err != nil {
				return err
			}
		}
		envoyProc, targets, err := startStep(dir, o, step, backends, ports)
		if err != nil {
			if step == stepNoop {
				stop(filterProc)
			}
			return fmt.Errorf("step %s: %w", step, err)
		}
		if envoyProc != nil {
			logf("step %s: Envoy pid %d", step, envoyProc.Pid())
		}
		for _, w := range wls {
			if !selected(o.ops, w.Op) || (w.Backend == backendMilvus && !milvusSteps[step]) {
				continue
			}
			logf("%-17s %-11s %-6s: %s warm-up + %s…", step, w.Backend, w.Op, o.warmup, o.duration)
			prof := ""
			if o.profileDir != "" {
				prof = filepath.Join(o.profileDir, strings.NewReplacer("+", "-").Replace(step)+"_"+w.Backend+"_"+w.Op+".pprof")
			}
			if step == stepNoop {
				prof = ""
			}
			backendProc, backendCPU := lite, cpuTime
			if w.Backend == backendMilvus {
				backendProc, backendCPU = st.Proc, treeCPU
			} else if w.Backend != "milvus-lite" {
				backendProc = nil
			}
			r, err := measure(o, w, step, targets[w.Backend], filterProc, envoyProc, backendProc, backendCPU, edgePorts.admin, prof)
			if err != nil {
				stop(envoyProc)
				return err
			}
			logf("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, edge %.1f µs/req, Envoy %.1f µs/req, %d errors",
				r.RPS, r.P50us/1e3, r.P99us/1e3, r.EdgeCPUus, r.EnvoyCPUus, r.Errors)
			rows = append(rows, r)
			if err := alive(edge, filterProc, envoyProc, lite, procOf(st)); err != nil {
				return fmt.Errorf("during %s %s: %w", step, w.Op, err)
			}
		}
		stop(envoyProc)
		if step == stepNoop || step == stepInProcess {
			stop(filterProc)
		}
		if step == stepLimits {
			if err := reloadEdge(edgePorts, ""); err != nil {
				return fmt.Errorf("step %s: %w", step, err)
			}
		}
	}
	if st != nil {
		pr, err := pymilvusRounds(dir, o, backends, edge, edgePorts, st)
		if err != nil {
			return err
		}
		rows = append(rows, pr...)
	}
	ratios(rows)
	rep := Report{Meta: meta(o, started), Steps: stepDesc, Rows: rows,
		FixtureCalls: map[string]int64{}}
	for _, m := range []string{"Search", "Insert", "Query", "DescribeCollection", "ShowPartitions", "ListAliases"} {
		rep.FixtureCalls[m] = fx.Calls(m)
	}
	md := rep.Markdown()
	fmt.Print(md)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(o.out, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s/latest.{json,md} in %s", o.out, time.Since(started).Round(time.Second))
	return nil
}

// alive fails when one of the children (nil: none) has exited.
func alive(children ...*procs.Proc) error {
	for _, c := range children {
		if c != nil {
			if err := c.Exited(); err != nil {
				return err
			}
		}
	}
	return nil
}

// procOf is the standalone's process, nil without one.
func procOf(st *backendproc.Standalone) *procs.Proc {
	if st == nil {
		return nil
	}
	return st.Proc
}

type edgeAddrs struct {
	listener, envoyAdmin, xds, filters, admin, config string
	// yaml is the config startEdge wrote (reloadEdge lays more over it).
	yaml []byte
}

// startEdge runs `milvus-edge serve` (xDS + filters + admin, no Envoy) as a
// child process, so its CPU is its own; the full-chain step starts the Envoy
// it drives.
func startEdge(dir string, o options, backends map[string]string) (*procs.Proc, edgeAddrs, error) {
	p := edgeAddrs{listener: freeAddr(), envoyAdmin: freeAddr(), xds: freeAddr(), filters: freeAddr(), admin: freeAddr(),
		config: filepath.Join(dir, "edge.yaml")}
	network, dialAddr := "tcp", p.filters
	if o.filtersUnix {
		dialAddr = filepath.Join(dir, "filters.sock")
		network, p.filters = "unix", "unix:"+dialAddr
	}
	clusters := fmt.Sprintf("  - name: fake\n    endpoints: [{address: %s}]\n", backends["fake"])
	routes := ""
	if a := backends["milvus-lite"]; a != "" {
		clusters += fmt.Sprintf("  - name: lite\n    endpoints: [{address: %s}]\n", a)
		routes = "  - name: lite\n    collection: " + liteCollection + "\n    cluster: lite\n"
	}
	if a := backends[backendMilvus]; a != "" {
		c, r, err := standaloneCluster(dir, a)
		if err != nil {
			return nil, p, err
		}
		clusters, routes = clusters+c, routes+r
	}
	base := fmt.Sprintf(`# milvus-edge bench: the full chain. Defaults everywhere else (embedded
# policy bundle: Milvus RBAC, root / Milvus; validation on).
log: {level: warn}
listener: {address: %s}
envoy: {admin_address: %s, concurrency: %d}
edge: {xds_address: %s, filters_address: %s, admin_address: %s}
clusters:
%sroutes:
%s  - name: default
    cluster: fake
`, p.listener, p.envoyAdmin, o.concurrency, p.xds, p.filters, p.admin, clusters, routes)
	yml, err := mergeYAML(base, o.edgeYAML)
	if err != nil {
		return nil, p, fmt.Errorf("-edge-yaml: %w", err)
	}
	if err := os.WriteFile(p.config, yml, 0o644); err != nil {
		return nil, p, err
	}
	p.yaml = yml
	var env []string
	if o.edgeEnv != "" {
		env = strings.Split(o.edgeEnv, ",")
	}
	c, err := startChildEnv(dir, "milvus-edge", env, o.edgeBin, "serve", "--config", p.config)
	if err != nil {
		return nil, p, err
	}
	err = waitFor("milvus-edge serving", 30*time.Second, func() error {
		if !httpOK("http://" + p.admin + "/healthz") {
			return fmt.Errorf("admin /healthz not answering")
		}
		conn, err := net.DialTimeout(network, dialAddr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}, c)
	if err != nil {
		stop(c)
		return nil, p, err
	}
	return c, p, nil
}

// mergeYAML lays the top-level mappings of extra over base, key by key and
// recursively (so extra "edge: {single_pass: false}" keeps base's edge.*).
func mergeYAML(base, extra string) ([]byte, error) {
	var b, e map[string]any
	if err := yaml.Unmarshal([]byte(base), &b); err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal([]byte(extra), &e); err != nil {
		return nil, err
	}
	merge(b, e)
	return yaml.Marshal(b)
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		dm, ok1 := dst[k].(map[string]any)
		sm, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			merge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// startStep starts the Envoy of a step (none for direct) and returns the
// address the loader targets per backend.
func startStep(dir string, o options, step string, addrs map[string]string, e edgeAddrs) (*procs.Proc, map[string]string, error) {
	if step == stepDirect {
		return nil, addrs, nil
	}
	admin := freeAddr()
	targets := map[string]string{}
	var bs []byte
	var err error
	switch step {
	case stepFull, stepLimits, stepInProcess:
		admin = e.envoyAdmin
		for k, a := range addrs {
			if a != "" {
				targets[k] = e.listener
			}
		}
		bs, err = exec.Command(o.edgeBin, "bootstrap", "--config", e.config).Output()
	default:
		backends := map[string][2]string{}
		for k, a := range addrs {
			if a != "" && (k != backendMilvus || milvusSteps[step]) {
				backends[k] = [2]string{a, freeAddr()}
			}
		}
		for k, v := range backends {
			targets[k] = v[1]
		}
		filters := ""
		if step == stepAuthz || step == stepNoop || step == stepLocalRL {
			filters = e.filters
		}
		bs, err = staticBootstrap(step, admin, backends, filters, o.amplify)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bootstrap: %w", err)
	}
	path := filepath.Join(dir, "envoy-"+strings.ReplaceAll(step, "+", "-")+".yaml")
	if err := os.WriteFile(path, bs, 0o644); err != nil {
		return nil, nil, err
	}
	// The flags app.StartEnvoy uses for the edge's own Envoy.
	c, err := startChildEnv(dir, "envoy-"+strings.ReplaceAll(step, "+", "-"), envoyEnv(step, o), o.envoyBin, "-c", path,
		"--disable-hot-restart", "--concurrency", fmt.Sprint(o.concurrency), "--log-level", "warning")
	if err != nil {
		return nil, nil, err
	}
	err = waitFor("envoy "+step+" ready", 60*time.Second, func() error {
		if !httpOK("http://" + admin + "/ready") {
			return fmt.Errorf("admin /ready not LIVE")
		}
		for _, t := range targets {
			if err := probe(t); err != nil {
				return err
			}
		}
		return nil
	}, c)
	if err != nil {
		stop(c)
		return nil, nil, err
	}
	return c, targets, nil
}

type sample struct {
	edge, envoy, self, lite time.Duration
	busy, total             int64
}

// take samples the CPU of the processes of a row; backendCPU reads the
// backend's (the standalone's counts its children too).
func take(edge, envoy, backend *procs.Proc, backendCPU func(int) time.Duration) sample {
	var s sample
	s.edge = cpuTime(edge.Pid())
	if envoy != nil {
		s.envoy = cpuTime(envoy.Pid())
	}
	if backend != nil {
		s.lite = backendCPU(backend.Pid())
	}
	s.self = cpuTime(0)
	s.busy, s.total = machineCPU()
	return s
}

func measure(o options, w Workload, step, target string, edge, envoy, backend *procs.Proc, backendCPU func(int) time.Duration, edgeAdmin, profile string) (Row, error) {
	var s0, s1 sample
	profDone := make(chan error, 1)
	conns, streams := o.conns, o.streams
	if w.Streams > 0 {
		conns, streams = 1, w.Streams
	}
	rate := o.rate
	if w.Backend != "fake" {
		rate = 0
	}
	res, err := Run(target, w, conns, streams, Window{Warmup: o.warmup, Duration: o.duration, Rate: rate,
		OnStart: func() {
			s0 = take(edge, envoy, backend, backendCPU)
			if profile != "" {
				go func() { profDone <- fetchProfile(edgeAdmin, o.duration, profile) }()
			}
		},
		OnEnd: func() { s1 = take(edge, envoy, backend, backendCPU) }})
	if err != nil {
		return Row{}, err
	}
	if profile != "" {
		if err := <-profDone; err != nil {
			return Row{}, fmt.Errorf("edge profile: %w", err)
		}
	}
	r := Row{Backend: w.Backend, Op: w.Op, Step: step, Requests: res.OK, Errors: res.Errors, ErrorSamples: res.ErrorsByMsg,
		RPS:   float64(res.OK) / o.duration.Seconds(),
		P50us: us(res.Quantile(0.50)), P90us: us(res.Quantile(0.90)), P99us: us(res.Quantile(0.99))}
	per := func(d time.Duration) float64 {
		if res.OK == 0 {
			return 0
		}
		return us(d) / float64(res.OK)
	}
	r.EdgeCPUus = per(s1.edge - s0.edge)
	r.EnvoyCPUus = per(s1.envoy - s0.envoy)
	r.BenchCPUus = per(s1.self - s0.self)
	if backend != nil {
		r.BackendCPUus = per(s1.lite - s0.lite)
	}
	if dt := s1.total - s0.total; dt > 0 {
		r.MachineBusyPct = 100 * float64(s1.busy-s0.busy) / float64(dt)
	}
	return r, nil
}

// fetchProfile saves the edge's CPU profile over d (its admin /debug/pprof).
func fetchProfile(admin string, d time.Duration, path string) error {
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func meta(o options, started time.Time) Meta {
	m := Meta{
		Date: started.UTC().Format(time.RFC3339), Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		EnvoyConcurrency: o.concurrency, Conns: o.conns, Streams: o.streams,
		WarmupS: o.warmup.Seconds(), DurationS: o.duration.Seconds(),
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(o.envoyBin, "--version").Output(); err == nil {
		// "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
		if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "version: "); ok {
			if parts := strings.Split(v, "/"); len(parts) > 1 {
				v = parts[1]
			}
			m.Envoy = v
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
