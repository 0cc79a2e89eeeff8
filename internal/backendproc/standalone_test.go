package backendproc

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// A standalone that cannot start fails at once with milvus-server's own
// words, and leaves nothing running: here its proxy port is taken.
func TestStandaloneCannotStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	s, err := StartStandalone(ctx, slog.New(slog.DiscardHandler), config.MilvusStandalone{
		Address: l.Addr().String(), DataDir: t.TempDir(), Command: serverBin(t), Authorization: true,
	}, nil)
	if err == nil {
		_ = s.Stop(10 * time.Second)
		t.Fatal("started on a taken port")
	}
	t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
	for _, want := range []string{"exited while starting", "milvus-edge: proxy_port " + port(l.Addr().String()) + " is taken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q", want)
		}
	}
}

func TestScriptInterpreter(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want, err string }{
		"venv script": {body: "#!/opt/v/bin/python3\nimport sys\n", want: "/opt/v/bin/python3"},
		"not python":  {body: "#!/bin/sh\nexec true\n", err: "not a Python console script"},
		"binary":      {body: "\x7fELF", err: "not a Python console script"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.body), 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := scriptInterpreter(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("scriptInterpreter = %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("scriptInterpreter = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// serverBin is $MILVUS_SERVER_BIN, else the repo's .venv-milvus (make setup).
func serverBin(t *testing.T) string {
	if b := os.Getenv("MILVUS_SERVER_BIN"); b != "" {
		return b
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../../.venv-milvus/bin/milvus-server")
}

// TestStandaloneRetriesATakenPickedPort: a port picked free and taken before
// Milvus binds it (here the metrics port, held by the test) fails that start
// only; the next start, on fresh ports, comes up and serves.
func TestStandaloneRetriesATakenPickedPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	pickPorts = func(n int, except []string) ([]string, error) {
		calls++
		ports, err := freePorts(n, except)
		if err == nil && calls == 1 {
			ports[len(ports)-1] = port(taken.Addr().String()) // the metrics port
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = freePorts })
	proxy, err := freePorts(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := StartStandalone(ctx, slog.New(slog.DiscardHandler), config.MilvusStandalone{
		Address: "127.0.0.1:" + proxy[0], DataDir: t.TempDir(), Command: serverBin(t),
	}, nil)
	if err != nil {
		t.Fatalf("start after a taken metrics port: %v", err)
	}
	defer func() { _ = s.Stop(20 * time.Second) }()
	if calls != 2 || s.MetricsAddr == taken.Addr().String() {
		t.Fatalf("%d port picks, metrics on %s; want a second start on fresh ports", calls, s.MetricsAddr)
	}
	if err := CheckHealth(ctx, s.Addr, "", ""); err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
}
