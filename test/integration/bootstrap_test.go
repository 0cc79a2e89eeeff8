package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestEnvoyAcceptsBootstraps runs the pinned Envoy in validate mode on the
// bootstrap of the embedded default and of the compose deployment.
func TestEnvoyAcceptsBootstraps(t *testing.T) {
	testenv.Setup(t)
	for _, path := range []string{"", filepath.Join(testenv.RepoRoot(t), "deploy/compose/milvus-edge.yaml")} {
		cfg, _, err := config.Load(path)
		if path != "" {
			cfg, err = composeConfig(t, path)
		}
		if err != nil {
			t.Fatal(err)
		}
		bs, err := app.BootstrapFor(cfg).Render()
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "bootstrap.yaml")
		if err := os.WriteFile(f, bs, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(os.Getenv("ENVOY_BIN"), "--mode", "validate", "-c", f, "--disable-hot-restart").CombinedOutput()
		if err != nil {
			t.Fatalf("envoy rejects the bootstrap of %q: %v\n%s", path, err, out)
		}
	}
}

// composeConfig loads the compose edge config, whose admin token file and
// calls module are paths inside its containers: a token of the test's own
// and the calls module `make build` built stand in for them.
func composeConfig(t *testing.T, path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tok := filepath.Join(t.TempDir(), "edge-admin-token")
	if err := os.WriteFile(tok, []byte("a-test-token-of-32-characters-00\n"), 0o600); err != nil {
		return nil, err
	}
	data = bytes.ReplaceAll(data, []byte("/run/secrets/edge-admin-token"), []byte(tok))
	if m := os.Getenv(app.CallsModuleEnvVar); m != "" {
		data = bytes.ReplaceAll(data, []byte("/usr/local/lib/milvus-edge/libmilvus_edge_calls.so"), []byte(m))
	}
	return config.Parse(data)
}

// TestListenerPortTakenFailsFast: when Envoy cannot bind the listener it
// rejects the listener; the edge stops at once with Envoy's reason instead
// of waiting out the readiness limit.
func TestListenerPortTakenFailsFast(t *testing.T) {
	testenv.Setup(t)
	p := testenv.NewPorts(t)
	taken, err := net.Listen("tcp", p.Listener)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	testenv.WriteFile(t, path, p.ConfigHead()+"clusters:\n  - name: default\n    endpoints: [{address: 127.0.0.1:1}]\nroutes:\n  - cluster: default\n")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	start := time.Now()
	err = app.Run(ctx, app.Options{ConfigPath: path, Launch: true, Stdout: io.Discard, Stderr: io.Discard})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "envoy rejected the configuration") || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("run error %v, want Envoy's rejection naming the taken address", err)
	}
	if took > 20*time.Second {
		t.Fatalf("failed after %s, want at once", took)
	}
	t.Logf("failed in %s: %v", took.Round(time.Millisecond), err)
}
