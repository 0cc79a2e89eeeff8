package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// Standalone is the Milvus standalone shared by the tests of one test binary:
// a real Milvus 2.3 (PyPI milvus, $MILVUS_SERVER_BIN, else the repo's
// .venv-milvus) with authorization on.
type Standalone struct {
	// Addr is its client (gRPC) address, 127.0.0.1:port.
	Addr string
	// MetricsURL is Milvus's own Prometheus endpoint, http://127.0.0.1:port/metrics.
	MetricsURL string
	// User and Password are Milvus's built-in root credentials.
	User, Password string
	// EtcdAddr is its embedded etcd's client address, 127.0.0.1:port, where
	// Milvus keeps its sessions (by-dev/meta/session/...).
	EtcdAddr string
}

// shared holds what the tests of one binary share; Main stops it.
var shared struct {
	mainRuns bool // set by Main before the tests run

	once sync.Once
	dir  string
	proc *backendproc.Standalone
	err  error
}

// Main runs the tests of a package and then stops what they shared (the
// Milvus standalone) and removes its folder. A package that calls
// MilvusStandalone needs it:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	shared.mainRuns = true
	code := m.Run()
	if p := shared.proc; p != nil {
		if err := p.Stop(30 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
		}
	}
	if shared.dir != "" && shared.err == nil {
		os.RemoveAll(shared.dir) // kept after a failed start, for its log
	}
	os.Exit(code)
}

// MilvusStandalone returns the test binary's Milvus standalone, started on
// first use (~40 s; its output goes to milvus-standalone.log in its folder,
// named in errors). It fails the test, never skips, when Milvus cannot start.
func MilvusStandalone(t testing.TB) Standalone {
	t.Helper()
	if !shared.mainRuns {
		t.Fatal("testenv.MilvusStandalone: the package needs func TestMain(m *testing.M) { testenv.Main(m) }, which stops the shared standalone")
	}
	shared.once.Do(func() { shared.proc, shared.err = startStandalone(RepoRoot(t)) })
	if shared.err != nil {
		t.Fatalf("milvus standalone: %v", shared.err)
	}
	return Standalone{
		Addr:       shared.proc.Addr,
		MetricsURL: shared.proc.MetricsURL(),
		User:       backendproc.RootUser,
		Password:   backendproc.RootPassword,
		EtcdAddr:   shared.proc.EtcdAddr,
	}
}

func startStandalone(root string) (*backendproc.Standalone, error) {
	dir, err := os.MkdirTemp("", "milvus-edge-standalone-")
	if err != nil {
		return nil, err
	}
	shared.dir = dir
	logPath := filepath.Join(dir, "milvus-standalone.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	addr, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendproc.StandaloneTimeout+10*time.Second)
	defer cancel()
	// The process outlives any one test, so its output goes to a file, not t.Log.
	p, err := backendproc.StartStandalone(ctx, slog.New(slog.DiscardHandler), config.MilvusStandalone{
		Address: addr, DataDir: filepath.Join(dir, "data"), Command: standaloneBin(root), Authorization: true,
	}, nil, procs.Output(f))
	if err != nil {
		return nil, fmt.Errorf("%w\n(whole output: %s)", err, logPath)
	}
	return p, nil
}

// standaloneBin is $MILVUS_SERVER_BIN, else the repo's .venv-milvus/bin/milvus-server.
func standaloneBin(root string) string {
	if b := os.Getenv("MILVUS_SERVER_BIN"); b != "" {
		return b
	}
	return filepath.Join(root, ".venv-milvus/bin/milvus-server")
}
