package gosdk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout    = 120 * time.Second
	shutdownTimeout = 15 * time.Second // WaitDelay after SIGINT before SIGKILL
	stderrTailBytes = 16 << 10
)

// stack is one running `milvus-edge run` with its own config, ports and data dir.
type stack struct {
	EdgeAddr    string // Envoy listener: what Milvus clients use
	BackendAddr string // the milvus-lite the edge launched, reached directly
	EnvoyAdmin  string // Envoy's admin interface (stats)
	dir         string
	cmd         *exec.Cmd
	cancel      context.CancelFunc
	stderr      *tailBuffer
	stdout      *lineWatcher
	exited      chan struct{} // closed when cmd.Wait returns
	waitErr     error
}

var (
	stackOnce sync.Once
	shared    *stack
	sharedErr error
)

// edgeStack starts the shared stack on first use; every test that needs it fails
// (never skips) if it cannot be started.
func edgeStack(t *testing.T) *stack {
	t.Helper()
	stackOnce.Do(func() { shared, sharedErr = startStack() })
	if sharedErr != nil {
		t.Fatalf("starting milvus-edge: %v", sharedErr)
	}
	select {
	case <-shared.exited:
		t.Fatalf("milvus-edge exited while tests were running (%v); stderr tail:\n%s", shared.waitErr, shared.stderr.String())
	default:
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: stopping milvus-edge: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startStack() (*stack, error) { return startStackWith(nil) }

// authSetup writes whatever files an auth config needs into the stack's temp dir
// and returns the config's top-level `auth:` block (YAML, newline-terminated).
type authSetup func(dir string) (string, error)

// startStackWith starts a stack whose config has the auth block auth returns
// (nil: no auth block, the embedded default policy).
func startStackWith(auth authSetup) (*stack, error) { return startStackListener(auth, nil) }

// listenerSetup writes whatever files the listener needs into the stack's
// temp dir and returns more fields of the config's `listener:` flow mapping
// (", tls: {...}").
type listenerSetup func(dir string) (string, error)

// startStackListener is startStackWith with extra listener fields (nil: none).
func startStackListener(auth authSetup, listener listenerSetup) (*stack, error) {
	bin := os.Getenv("MILVUS_EDGE_BIN")
	if bin == "" {
		return nil, errors.New("MILVUS_EDGE_BIN is not set (run via `make test-gosdk`, which builds and exports it)")
	}
	if !filepath.IsAbs(bin) {
		return nil, fmt.Errorf("MILVUS_EDGE_BIN=%q is not an absolute path", bin)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, fmt.Errorf("MILVUS_EDGE_BIN: %w", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("MILVUS_EDGE_BIN=%q is not an executable file", bin)
	}

	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "milvus-edge-gosdk-")
	if err != nil {
		return nil, err
	}
	s := &stack{
		EdgeAddr:    ports[0],
		BackendAddr: ports[5],
		EnvoyAdmin:  ports[1],
		dir:         dir,
		stderr:      &tailBuffer{max: stderrTailBytes},
		exited:      make(chan struct{}),
	}
	authYAML := ""
	if auth != nil {
		if authYAML, err = auth(dir); err != nil {
			s.cleanupDir()
			return nil, fmt.Errorf("auth setup: %w", err)
		}
	}
	listenerYAML := ""
	if listener != nil {
		if listenerYAML, err = listener(dir); err != nil {
			s.cleanupDir()
			return nil, fmt.Errorf("listener setup: %w", err)
		}
	}
	cfg := fmt.Sprintf(`log: {level: info, format: text}
listener: {address: %s%s}
envoy: {admin_address: %s}
edge: {xds_address: %s, filters_address: %s, admin_address: %s}
%sclusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - name: default
    cluster: default
launch:
  milvus_lite:
    - {address: %s, data_dir: %s}
`, ports[0], listenerYAML, ports[1], ports[2], ports[3], ports[4], authYAML, ports[5], ports[5], filepath.Join(dir, "lite"))
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	cmd.Env = os.Environ() // ENVOY_BIN, MILVUS_LITE_BIN etc. pass through
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = shutdownTimeout
	s.stdout = newLineWatcher("milvus-edge ready on ")
	cmd.Stdout = s.stdout
	cmd.Stderr = s.stderr
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	want := "milvus-edge ready on " + s.EdgeAddr
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case line := <-s.stdout.found:
		if line != want {
			_ = s.stop()
			return nil, fmt.Errorf("ready line %q, want exactly %q; stderr tail:\n%s", line, want, s.stderr.String())
		}
		return s, nil
	case <-s.exited:
		err := fmt.Errorf("milvus-edge exited before becoming ready (%v); stdout:\n%s\nstderr tail:\n%s",
			s.waitErr, s.stdout.String(), s.stderr.String())
		s.cleanupDir()
		return nil, err
	case <-timer.C:
		stopErr := s.stop()
		return nil, fmt.Errorf("no %q on stdout within %s (stop: %v); stdout:\n%s\nstderr tail:\n%s",
			want, readyTimeout, stopErr, s.stdout.String(), s.stderr.String())
	}
}

// stop sends SIGINT, waits (SIGKILL after WaitDelay), and requires exit status 0
// and that the edge's listener and the launched milvus-lite no longer accept
// connections (all children stopped).
func (s *stack) stop() error {
	s.cancel() // cmd.Cancel: SIGINT
	select {
	case <-s.exited:
	case <-time.After(shutdownTimeout + 10*time.Second):
		return fmt.Errorf("milvus-edge did not exit after SIGINT; stderr tail:\n%s", s.stderr.String())
	}
	defer s.cleanupDir()
	ps := s.cmd.ProcessState
	if ps == nil || !ps.Success() {
		var how string
		if ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				how = fmt.Sprintf("killed by %v (did not exit within %s of SIGINT?)", ws.Signal(), shutdownTimeout)
			} else {
				how = fmt.Sprintf("exit status %d", ps.ExitCode())
			}
		}
		return fmt.Errorf("milvus-edge shutdown on SIGINT: %s (wait: %v); stderr tail:\n%s", how, s.waitErr, s.stderr.String())
	}
	if got, want := s.stdout.raw(), "milvus-edge ready on "+s.EdgeAddr+"\n"; got != want {
		return fmt.Errorf("stdout must be exactly one line %q, got:\n%s", want, s.stdout.String())
	}
	for _, addr := range []string{s.EdgeAddr, s.BackendAddr} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				return fmt.Errorf("milvus-edge exited 0 but %s still accepts connections (child left running)", addr)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func (s *stack) cleanupDir() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// freePorts returns n distinct free 127.0.0.1 ports (all held open until all are picked).
func freePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("picking a free port: %w", err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// lineWatcher records stdout and reports the first line starting with prefix.
type lineWatcher struct {
	mu     sync.Mutex
	all    bytes.Buffer
	part   []byte
	prefix string
	found  chan string
	sent   bool
}

func newLineWatcher(prefix string) *lineWatcher {
	return &lineWatcher{prefix: prefix, found: make(chan string, 1)}
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.all.Len() < 1<<20 {
		w.all.Write(p)
	}
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.part[:i]), "\r")
		w.part = w.part[i+1:]
		if !w.sent && strings.HasPrefix(line, w.prefix) {
			w.sent = true
			w.found <- line
		}
	}
	return len(p), nil
}

func (w *lineWatcher) raw() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(w.all.Bytes()))
	for sc.Scan() {
		out.WriteString("  | " + sc.Text() + "\n")
	}
	return out.String()
}
