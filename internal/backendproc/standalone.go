package backendproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// StandaloneTimeout bounds a standalone start: the first start on a data
// directory unpacks Milvus's binaries (~250 MB) and takes ~40 s.
const StandaloneTimeout = 180 * time.Second

// Milvus's built-in credentials, used for readiness when authorization is on.
const (
	RootUser     = "root"
	RootPassword = "Milvus"
)

// Standalone is a running Milvus standalone.
type Standalone struct {
	*procs.Proc
	// Addr is the client (proxy) address, host:port.
	Addr string
	// MetricsAddr is 127.0.0.1:port of Milvus's /metrics and /healthz.
	MetricsAddr string
	// EtcdAddr is 127.0.0.1:port of the embedded etcd's client port, where
	// Milvus keeps its sessions (by-dev/meta/session/...).
	EtcdAddr string
	// Authorization says whether Milvus checks credentials.
	Authorization bool
}

// standalonePorts are milvus-server's port flags; the proxy port comes from
// the address, the others are picked free at each start.
var standalonePorts = []string{
	"--etcd-port", "--root-coord-port", "--proxy-internal-port", "--query-coord-port",
	"--query-node-port", "--index-coord-port", "--index-node-port", "--data-coord-port", "--data-node-port",
}

// shim runs milvus-server's main() with these changes, for a supervisor:
//   - ports: the wrapper silently moves a taken port upward (and with it
//     where Milvus listens); it refuses instead;
//   - the metrics port: the wrapper overwrites METRICS_PORT with a port it
//     searches upward from 9091 (racy between two starts); it starts the
//     search at argv[1] instead and refuses to go on with another;
//   - the milvus binary gets PR_SET_PDEATHSIG, so it dies with the wrapper
//     (the edge stops the whole group; this covers a killed edge);
//   - the wrapper notices when milvus exits (its own start() waits 180 s on a
//     dead milvus, its wait() forever) and exits too, non-zero unless stopped.
const shim = `import ctypes, signal, subprocess, sys, time, types
import milvus
port = int(sys.argv.pop(1))
portTaken = 3  # exitPortTaken
sys.argv[0] = "milvus-server"
libc = ctypes.CDLL(None, use_errno=True)
def fail(msg, code=1):
    sys.stderr.write("milvus-edge: " + msg + "\n")
    sys.stderr.flush()
    raise SystemExit(code)
resolve = milvus.MilvusServerConfig.resolve_all_listen_ports
def resolve_exactly(self):
    want = {k: v[1] for k, v in self.configurable_items.items() if k.endswith("_port")}
    resolve(self)
    for k, v in want.items():
        if self.configurable_items[k][1] != v:
            # The proxy port is the configured address: no other to try.
            fail("%s %s is taken (milvus-server would move it to %s)" % (k, v, self.configurable_items[k][1]), 1 if k == "proxy_port" else portTaken)
def popen(*args, **kw):
    got = kw["env"].get("METRICS_PORT")
    if got != str(port):
        fail("metrics port %d is taken (milvus-server would move it to %s)" % (port, got), portTaken)
    return subprocess.Popen(*args, preexec_fn=lambda: libc.prctl(1, signal.SIGKILL), **kw)
stopped = []
stop = milvus.MilvusServer.stop
def stop_and_mark(self):
    stopped.append(True)
    stop(self)
def wait(self):
    while self.running:
        time.sleep(0.2)
    if self.server_proc is not None:
        fail("milvus exited with status %s" % self.server_proc.returncode)
    if not stopped:
        fail("milvus-server did not start milvus (see above)")
milvus.MilvusServerConfig.resolve_all_listen_ports = resolve_exactly
milvus.subprocess = types.SimpleNamespace(Popen=popen, TimeoutExpired=subprocess.TimeoutExpired)
milvus.MilvusServer.running = property(lambda self: self.server_proc is not None and self.server_proc.poll() is None)
milvus.MilvusServer.stop = stop_and_mark
milvus.MilvusServer.wait = wait
for s in (milvus.default_server, milvus.debug_server):
    s.webservice_port = port
sys.exit(milvus.main())
`

// StartStandalone launches one Milvus standalone (milvus-server from PyPI
// milvus 2.3.5) and waits until its proxy answers CheckHealth healthy (as
// root when authorization is on; over TLS with s.TLS) and its /healthz
// answers OK. Every port it
// opens is set, so several standalones and milvus-lite servers can run on one
// machine. The command is s.Command, else $MILVUS_SERVER_BIN, else
// .venv-milvus/bin/milvus-server; it runs with --debug so that Milvus's own
// output reaches the log (at debug level) and the error of a failed start.
// A first start on a data directory takes ~10 s here; a restart on one waits
// for the sessions of the previous run to expire (one to three minutes).
//
// avoid lists addresses the caller will bind later (Envoy's listener and
// admin, other backends): no picked port is one of theirs.
func StartStandalone(ctx context.Context, log *slog.Logger, s config.MilvusStandalone, avoid []string, opts ...procs.Option) (*Standalone, error) {
	bin := firstOf(s.Command, os.Getenv("MILVUS_SERVER_BIN"), ".venv-milvus/bin/milvus-server")
	python, err := scriptInterpreter(bin)
	if err != nil {
		return nil, fmt.Errorf("milvus standalone %s: %w (set launch.milvus_standalone[].command or MILVUS_SERVER_BIN, or run `make setup`)", s.Address, err)
	}
	_, proxyPort, err := net.SplitHostPort(s.Address)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(s.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("milvus standalone data dir: %w", err)
	}
	// The ports are free when picked, not when Milvus binds them: another
	// process may take one in between (seen in CI). The shim then exits
	// with exitPortTaken before anything listens, and the start is tried
	// again on fresh ports.
	for attempt := 1; ; attempt++ {
		st, err := startStandaloneOnce(ctx, log, s, python, proxyPort, dataDir, avoid, opts)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return st, err
		}
		log.Warn("milvus standalone: a picked port was taken before it bound; trying other ports", "address", s.Address, "attempt", attempt, "error", err)
	}
}

// exitPortTaken is the shim's exit status when a port it was given is taken.
const exitPortTaken = 3

// errPortTaken marks a start that failed on a taken port.
var errPortTaken = errors.New("a port picked for the standalone was taken")

// startStandaloneOnce starts the standalone on freshly picked ports.
func startStandaloneOnce(ctx context.Context, log *slog.Logger, s config.MilvusStandalone, python, proxyPort, dataDir string, avoid []string, opts []procs.Option) (*Standalone, error) {
	except := []string{proxyPort}
	for _, a := range avoid {
		if _, p, err := net.SplitHostPort(a); err == nil {
			except = append(except, p)
		}
	}
	ports, err := pickPorts(len(standalonePorts)+2, except)
	if err != nil {
		return nil, err
	}
	etcdPort, etcdPeerPort, metricsPort := ports[0], ports[len(ports)-2], ports[len(ports)-1]
	// The embedded etcd listens on 2379 and 2380 whatever --etcd-port says
	// (that only sets the client's endpoint): its own config file moves both.
	etcdConf := filepath.Join(dataDir, "milvus-edge-etcd.yaml")
	if err := os.WriteFile(etcdConf, []byte(embedEtcdConfig(etcdPort, etcdPeerPort)), 0o600); err != nil {
		return nil, fmt.Errorf("milvus standalone etcd config: %w", err)
	}
	args := []string{"-c", shim, metricsPort, "--debug", "--data", dataDir, "--proxy-port", proxyPort}
	for i, flag := range standalonePorts {
		args = append(args, flag, ports[i])
	}
	if s.Authorization {
		// A Python bool() flag: any non-empty value turns it on, so it is
		// left out for false.
		args = append(args, "--authorization-enabled", "true")
	}
	tlsArgs, err := standaloneTLSArgs(s.TLS)
	if err != nil {
		return nil, err
	}
	args = append(args, tlsArgs...)
	creds, err := standaloneCreds(s.TLS)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "ETCD_CONFIG_PATH="+etcdConf) // Milvus reads etcd.config.path from the environment
	name := "milvus-standalone " + s.Address
	// Milvus logs ~600 lines while starting and a goroutine dump when it
	// stops (2.3.5 ends with "panic: context canceled" in CloseEtcdClient):
	// debug level; errors carry the last lines.
	opts = append([]procs.Option{procs.LogLevel(slog.LevelDebug)}, opts...)
	p, err := procs.Start(log, name, python, args, env, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w (set launch.milvus_standalone[].command or MILVUS_SERVER_BIN, or run `make setup`)", err)
	}
	st := &Standalone{Proc: p, Addr: s.Address, MetricsAddr: net.JoinHostPort("127.0.0.1", metricsPort), EtcdAddr: net.JoinHostPort("127.0.0.1", etcdPort), Authorization: s.Authorization}
	user, password := "", ""
	if s.Authorization {
		user, password = RootUser, RootPassword
	}
	err = waitReady(ctx, p, StandaloneTimeout, func(ctx context.Context) error {
		if err := checkHealth(ctx, s.Address, creds, user, password); err != nil {
			return err
		}
		return httpHealthz(ctx, "http://"+st.MetricsAddr+"/healthz")
	})
	if err != nil {
		_ = p.Stop(10 * time.Second)
		if ee, ok := errors.AsType[*exec.ExitError](p.Err()); ok && ee.ExitCode() == exitPortTaken {
			return nil, fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, err
	}
	return st, nil
}

// embedEtcdConfig is an etcd config file for Milvus's embedded etcd on the
// given loopback ports (one member; Milvus sets the data directory).
func embedEtcdConfig(client, peer string) string {
	return fmt.Sprintf(`# Written by milvus-edge: the embedded etcd of this standalone.
name: default
listen-client-urls: http://localhost:%[1]s
advertise-client-urls: http://localhost:%[1]s
listen-peer-urls: http://localhost:%[2]s
initial-advertise-peer-urls: http://localhost:%[2]s
initial-cluster: default=http://localhost:%[2]s
`, client, peer)
}

// scriptInterpreter returns the interpreter on the #! line of a Python
// console script (pip writes the absolute path of its venv's python).
func scriptInterpreter(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	interp, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	fields := strings.Fields(interp)
	if !ok || len(fields) == 0 || !strings.Contains(filepath.Base(fields[0]), "python") {
		return "", fmt.Errorf("%s is not a Python console script (its first line is %q)", path, strings.TrimSpace(line))
	}
	return fields[0], nil
}

// pickPorts is freePorts; tests replace it.
var pickPorts = freePorts

// freePorts picks n distinct loopback ports that were free a moment ago,
// none of them in except.
func freePorts(n int, except []string) ([]string, error) {
	return freeport.LoopbackPorts(n, except...)
}

func httpHealthz(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "OK") {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// MetricsURL is the http:// URL of Milvus's Prometheus metrics.
func (s *Standalone) MetricsURL() string { return "http://" + s.MetricsAddr + "/metrics" }
