package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
